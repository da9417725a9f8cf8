import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { Subject } from 'rxjs';
import { DataSource } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { TransactionRunner } from '../database/transaction-runner.service';
import { confineToSubtree } from '../organizations/organization-tree';
import { ActionApplicability } from './action-applicability.entity';
import { ActionCapability } from './action-capability.entity';
import { ActionHandler } from './action-handler.entity';
import { findVisible, insertUnique, ownerFor } from './action-lookup';
import { CreateApplicabilityDto, CreateCapabilityDto, UpdateCapabilityDto } from './actions.dto';
import { ApplicabilityList, ApplicabilityView, CapabilityList, CapabilityView } from './actions.views';

export const capabilityView = (c: ActionCapability): CapabilityView => ({
  id: c.id,
  organization_id: c.organizationId,
  name: c.name,
  description: c.description,
  mandatory_parameters: [...c.mandatoryParameters],
  optional_parameters: [...c.optionalParameters],
  created_at: c.createdAt.toISOString(),
  updated_at: c.updatedAt.toISOString(),
});

const applicabilityView = (a: ActionApplicability, capability: string): ApplicabilityView => ({
  id: a.id,
  organization_id: a.organizationId,
  handler_id: a.handlerId,
  capability_id: a.capabilityId,
  capability,
  parameters: a.parameters,
  created_at: a.createdAt.toISOString(),
});

function checkParameterSets(mandatory: string[], optional: string[]): void {
  const both = mandatory.filter((name) => optional.includes(name));
  if (both.length > 0) throw new DomainError(ErrorCode.ValidationFailed, `Parameters cannot be both mandatory and optional: ${both.join(', ')}.`);
}

/**
 * Capabilities and applicabilities (HIRO's action configuration), per organization. Every change
 * emits the organization on `changed$` once committed, so that its connected handlers get
 * `configChanged`.
 */
@Injectable()
export class ActionCatalogService {
  readonly changed$ = new Subject<string>();

  constructor(
    private readonly transactions: TransactionRunner,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async createCapability(caller: VerifiedCaller, dto: CreateCapabilityDto): Promise<CapabilityView> {
    const mandatory = dto.mandatory_parameters ?? [];
    const optional = dto.optional_parameters ?? [];
    checkParameterSets(mandatory, optional);
    const row = await this.transactions.run(async (em) => {
      const now = new Date();
      const capability = Object.assign(new ActionCapability(), {
        id: randomUUID(),
        organizationId: await ownerFor(em, caller, dto.organization_id),
        name: dto.name,
        description: dto.description ?? null,
        mandatoryParameters: mandatory,
        optionalParameters: optional,
        createdAt: now,
        updatedAt: now,
      });
      const values = { ...capability, mandatoryParameters: [...mandatory], optionalParameters: [...optional] };
      await insertUnique(em, ActionCapability, values, 'A capability with this name already exists in the organization.');
      return capability;
    });
    this.changed$.next(row.organizationId);
    return capabilityView(row);
  }

  async listCapabilities(caller: VerifiedCaller, organizationId: string | undefined): Promise<CapabilityList> {
    const em = this.dataSource.manager;
    const qb = em.createQueryBuilder(ActionCapability, 'c');
    if (organizationId !== undefined) qb.where('c.organization_id = :organizationId', { organizationId: await ownerFor(em, caller, organizationId) });
    else confineToSubtree(qb, 'c.organization_id', caller.organizationId);
    const rows = await qb.orderBy('c.name', 'ASC').addOrderBy('c.id', 'ASC').getMany();
    return { items: rows.map(capabilityView) };
  }

  async getCapability(caller: VerifiedCaller, id: string): Promise<CapabilityView> {
    return capabilityView(await findVisible(this.dataSource.manager, caller, ActionCapability, id, 'Capability'));
  }

  async updateCapability(caller: VerifiedCaller, id: string, dto: UpdateCapabilityDto): Promise<CapabilityView> {
    if (dto.description === undefined && dto.mandatory_parameters === undefined && dto.optional_parameters === undefined) {
      throw new DomainError(ErrorCode.ValidationFailed, 'Give at least one of description, mandatory_parameters, optional_parameters.');
    }
    const row = await this.transactions.run(async (em) => {
      const capability = await findVisible(em, caller, ActionCapability, id, 'Capability', true);
      const changes: Partial<ActionCapability> = { updatedAt: new Date() };
      if (dto.description !== undefined) changes.description = dto.description;
      if (dto.mandatory_parameters !== undefined) changes.mandatoryParameters = dto.mandatory_parameters;
      if (dto.optional_parameters !== undefined) changes.optionalParameters = dto.optional_parameters;
      checkParameterSets(changes.mandatoryParameters ?? capability.mandatoryParameters, changes.optionalParameters ?? capability.optionalParameters);
      await em.update(ActionCapability, { id }, changes);
      return Object.assign(capability, changes);
    });
    this.changed$.next(row.organizationId);
    return capabilityView(row);
  }

  /** Deletes the capability and its applicabilities; actions already submitted keep going. */
  async removeCapability(caller: VerifiedCaller, id: string): Promise<void> {
    const row = await this.transactions.run(async (em) => {
      const capability = await findVisible(em, caller, ActionCapability, id, 'Capability', true);
      await em.delete(ActionCapability, { id });
      return capability;
    });
    this.changed$.next(row.organizationId);
  }

  async createApplicability(caller: VerifiedCaller, dto: CreateApplicabilityDto): Promise<ApplicabilityView> {
    const { row, capability } = await this.transactions.run(async (em) => {
      const handler = await findVisible(em, caller, ActionHandler, dto.handler_id, 'Action handler');
      const found = await findVisible(em, caller, ActionCapability, dto.capability_id, 'Capability');
      if (found.organizationId !== handler.organizationId) {
        throw new DomainError(ErrorCode.ValidationFailed, 'The handler and the capability belong to different organizations.');
      }
      const applicability = Object.assign(new ActionApplicability(), {
        id: randomUUID(),
        organizationId: handler.organizationId,
        handlerId: handler.id,
        capabilityId: found.id,
        parameters: dto.parameters ?? {},
        createdAt: new Date(),
      });
      // simple-json columns are serialized by TypeORM; its partial-entity type cannot express that.
      const values = { ...applicability, parameters: { ...applicability.parameters } } as QueryDeepPartialEntity<ActionApplicability>;
      await insertUnique(em, ActionApplicability, values, 'The handler already serves this capability.');
      return { row: applicability, capability: found };
    });
    this.changed$.next(row.organizationId);
    return applicabilityView(row, capability.name);
  }

  async listApplicabilities(caller: VerifiedCaller, organizationId: string | undefined): Promise<ApplicabilityList> {
    const em = this.dataSource.manager;
    const qb = em.createQueryBuilder(ActionApplicability, 'a').innerJoin(ActionCapability, 'c', 'c.id = a.capability_id').addSelect('c.name', 'capability_name');
    if (organizationId !== undefined) qb.where('a.organization_id = :organizationId', { organizationId: await ownerFor(em, caller, organizationId) });
    else confineToSubtree(qb, 'a.organization_id', caller.organizationId);
    const { entities, raw } = await qb.orderBy('a.created_at', 'ASC').addOrderBy('a.id', 'ASC').getRawAndEntities<{ capability_name: string }>();
    return { items: entities.map((a, i) => applicabilityView(a, raw[i].capability_name)) };
  }

  async removeApplicability(caller: VerifiedCaller, id: string): Promise<void> {
    const row = await this.transactions.run(async (em) => {
      const applicability = await findVisible(em, caller, ActionApplicability, id, 'Applicability', true);
      await em.delete(ActionApplicability, { id });
      return applicability;
    });
    this.changed$.next(row.organizationId);
  }

  /** `GET /api/action/1.0/capabilities` for a handler: its organization's capabilities. */
  async capabilitiesForHandler(handler: ActionHandler): Promise<CapabilityList> {
    const rows = await this.dataSource.manager.find(ActionCapability, { where: { organizationId: handler.organizationId }, order: { name: 'ASC' } });
    return { items: rows.map(capabilityView) };
  }

  /** `GET /api/action/1.0/applicabilities` for a handler: the capabilities it serves, with their extra parameters. */
  async applicabilitiesForHandler(handler: ActionHandler): Promise<ApplicabilityList> {
    const { entities, raw } = await this.dataSource.manager
      .createQueryBuilder(ActionApplicability, 'a')
      .innerJoin(ActionCapability, 'c', 'c.id = a.capability_id')
      .addSelect('c.name', 'capability_name')
      .where('a.handler_id = :handlerId', { handlerId: handler.id })
      .orderBy('c.name', 'ASC')
      .getRawAndEntities<{ capability_name: string }>();
    return { items: entities.map((a, i) => applicabilityView(a, raw[i].capability_name)) };
  }
}

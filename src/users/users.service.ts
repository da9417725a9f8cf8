import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { DomainError, ErrorCode } from '../common/domain-error';
import { isUniqueViolation } from '../database/unique-violation';
import { OutboxService } from '../events/outbox.service';
import { inSubtree } from '../organizations/organization-tree';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { User } from './user.entity';

export interface UserSummary {
  id: string;
  name: string;
  email: string;
}

/** Users of an organization; every write records its domain event in the same transaction. */
@Injectable()
export class UsersService {
  constructor(
    private readonly tenants: TenantMappingService,
    private readonly outbox: OutboxService,
  ) {}

  /** Users of the organization and of its descendants that are mapped to a tenant, in one query. */
  async listVisible(em: EntityManager, organizationId: string): Promise<UserSummary[]> {
    const below = inSubtree('m.organization_id', organizationId);
    const [sql, params] = em.connection.driver.escapeQueryWithParameters(
      `SELECT u.id, u.name, u.email FROM users u
        WHERE u.organization_id = :org
           OR u.organization_id IN (SELECT m.organization_id FROM organizations_mapping m WHERE ${below.sql})
        ORDER BY u.name, u.id`,
      { org: organizationId, ...below.params },
      {},
    );
    return em.query(sql, params);
  }

  async create(em: EntityManager, organizationId: string, input: { login: string; name: string; email: string; password?: string | null }): Promise<User> {
    const user = em.create(User, {
      id: randomUUID(),
      login: input.login.toLowerCase(),
      name: input.name,
      email: input.email,
      password: input.password ?? null,
      organizationId,
    });
    try {
      await em.insert(User, user);
    } catch (error) {
      if (isUniqueViolation(error)) throw new DomainError(ErrorCode.Conflict, 'A user with this login already exists.');
      throw error;
    }
    await this.outbox.record(em, {
      type: 'user.created',
      organizationId,
      data: { id: user.id, login: user.login, name: user.name, email: user.email, organization_id: organizationId },
    });
    return user;
  }

  /** The user with this id in the organization mapped to the tenant (403 foreign tenant, 404 unmapped or unknown id). */
  async findInTenant(em: EntityManager, caller: VerifiedCaller, acronisTenantId: string, id: string): Promise<User> {
    const target = await this.tenants.requireTarget(em, caller, acronisTenantId);
    return this.findInOrganization(em, target.organizationId, id);
  }

  /** The user with this id in this organization, or 404: ids elsewhere do not exist for the caller. */
  async findInOrganization(em: EntityManager, organizationId: string, id: string): Promise<User> {
    const user = await em.findOne(User, { where: { id, organizationId } });
    if (!user) throw new DomainError(ErrorCode.NotFound, 'User not found.');
    return user;
  }

  async update(em: EntityManager, user: User, changes: { name?: string; email?: string }): Promise<void> {
    const set = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    await em.update(User, { id: user.id }, set);
    await this.outbox.record(em, {
      type: 'user.updated',
      organizationId: user.organizationId,
      data: { id: user.id, login: user.login, name: changes.name ?? user.name, email: changes.email ?? user.email, organization_id: user.organizationId },
    });
  }

  async remove(em: EntityManager, user: User): Promise<void> {
    await em.delete(User, { id: user.id });
    await this.outbox.record(em, {
      type: 'user.deleted',
      organizationId: user.organizationId,
      data: { id: user.id, login: user.login, organization_id: user.organizationId },
    });
  }

  async setPassword(em: EntityManager, user: User, passwordHash: string): Promise<void> {
    await em.update(User, { id: user.id }, { password: passwordHash });
    await this.outbox.record(em, {
      type: 'user.password_reset',
      organizationId: user.organizationId,
      data: { id: user.id, login: user.login, organization_id: user.organizationId },
    });
  }
}

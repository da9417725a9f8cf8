import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EntityManager, In } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackRequestContext, CallbackResult, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { EXAMPLE_IDS } from '../callbacks/callback-example';
import { EnablementMethod } from '../callbacks/enablement-method';
import { DomainError, ErrorCode } from '../common/domain-error';
import { OutboxService } from '../events/outbox.service';
import { HookOperation } from '../hooks/hook-operation';
import { Organization, OrganizationKind } from '../organizations/organization.entity';
import { OrganizationsService } from '../organizations/organizations.service';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import { MirroredCustomer } from './mirrored-customer.entity';
import { MIRRORING_VERSIONS } from './mirroring-callbacks';
import { CustomerMirroringSetStatePayload, MirroredCustomerEnableItem } from './mirroring.dto';
import { MirroringSettings, MirroringState } from './mirroring-state';
import { assertContextTenant, MirroringService, writeMirrored } from './mirroring.service';

/** What the checks found, for the transaction to apply. */
interface Plan {
  subtree: Map<string, Organization>;
  /** Current mappings of the tenants named, by tenant. */
  mappings: Map<string, OrganizationMapping>;
  /** Mirrored-customer records in the caller's subtree, of the tenants named or of their mapped organizations, newest first. */
  records: MirroredCustomer[];
}

interface Changed {
  vendor_tenant_id: string;
  acronis_tenant_id: string;
}

/**
 * Enables and disables mirrored customers of the caller's organization, all or nothing.
 *
 * Enabled: a tenant already mapped to a customer of the caller (any depth) stays with it (its
 * name and settings updated); otherwise the customer organization it had before (disabled) is
 * mapped again, or a new CUSTOMER organization is created under the caller, named after the
 * tenant. Disabled: the mapping is removed and the record marked DISABLED.
 *
 * Refused, with nothing changed: a partner tenant other than the caller's link (403, the
 * guide's "credentials belong to the same partner ID"), a caller not enabled at all (404), a tenant
 * mapped to an organization outside the caller's subtree (403) or to one that is not a customer
 * (400), a tenant to disable that names no customer of the caller (404), a tenant named twice (400).
 */
@CallbackHandler({
  id: 'a.p.customer.mirroring.set_state.v1.0',
  payload: CustomerMirroringSetStatePayload,
  responseType: 'a.p.customer.mirroring.set_state.ok.v1.0',
  write: true,
  approval: HookOperation.CustomerMirroringSetState,
  method: EnablementMethod.MirroredCustomers,
  ...MIRRORING_VERSIONS,
  example: {
    summary: 'Enable a customer tenant (`disabled: [{"acronis_tenant_id"}]` disables one)',
    payload: {
      partner_tenant_id: EXAMPLE_IDS.acronisPartnerTenant,
      partner_tenant_name: EXAMPLE_IDS.partnerName,
      enabled: [{ acronis_tenant_id: EXAMPLE_IDS.acronisCustomerTenant, acronis_tenant_name: EXAMPLE_IDS.customerName, settings: { plan: 'premium' } }],
    },
  },
})
@Injectable()
export class CustomerMirroringSetStateHandler implements CallbackHandlerContract<CustomerMirroringSetStatePayload> {
  constructor(
    private readonly mirroring: MirroringService,
    private readonly organizations: OrganizationsService,
    private readonly outbox: OutboxService,
  ) {}

  /** The organization the operation is for; a request that cannot succeed is refused first. */
  async approvalOrganization({ em, caller, context, payload }: PreWriteInvocation<CustomerMirroringSetStatePayload>): Promise<string> {
    await this.check(em, caller, context, payload);
    return caller.organizationId;
  }

  async handle({ em, caller, context, payload, report }: CallbackInvocation<CustomerMirroringSetStatePayload>): Promise<CallbackResult> {
    const plan = await this.check(em, caller, context, payload);
    const datacenterUrl = context.datacenterUrl ?? null;
    const enabled: Array<Changed & { acronis_tenant_name: string; created: boolean }> = [];
    for (const item of payload.enabled ?? []) {
      const change = await this.enable(em, caller.organizationId, plan, item, datacenterUrl);
      if (change) enabled.push(change);
    }
    const disabled: Changed[] = [];
    for (const item of payload.disabled ?? []) {
      const change = await this.disable(em, caller.organizationId, plan, item.acronis_tenant_id.toLowerCase());
      if (change) disabled.push(change);
    }

    const partner = { partner_tenant_id: payload.partner_tenant_id.toLowerCase(), partner_tenant_name: payload.partner_tenant_name ?? null };
    if (enabled.length) {
      await this.outbox.record(em, { type: 'customer.mirroring.enabled', organizationId: caller.organizationId, data: { ...partner, customers: enabled, datacenter_url: datacenterUrl } });
    }
    if (disabled.length) {
      await this.outbox.record(em, { type: 'customer.mirroring.disabled', organizationId: caller.organizationId, data: { ...partner, customers: disabled } });
    }
    report({ enabled, disabled });
    return undefined;
  }

  /** Enables one customer; what changed, or null when it already was as asked. */
  private async enable(em: EntityManager, partnerId: string, plan: Plan, item: MirroredCustomerEnableItem, datacenterUrl: string | null) {
    const tenant = item.acronis_tenant_id.toLowerCase();
    const name = item.acronis_tenant_name;
    const settings = item.settings ?? null;
    const fields = { partnerOrganizationId: partnerId, state: MirroringState.Enabled, acronisTenantId: tenant, acronisTenantName: name, settings };
    const mapping = plan.mappings.get(tenant);
    const changed = (organizationId: string, created: boolean) => ({ vendor_tenant_id: organizationId, acronis_tenant_id: tenant, acronis_tenant_name: name, created });

    if (mapping) {
      // Already a mapped customer of the caller's (checked): keep it, bring its record up to date.
      let dirty = false;
      if (datacenterUrl !== null && mapping.acronisDcUrl !== datacenterUrl) {
        await em.update(OrganizationMapping, { organizationId: mapping.organizationId }, { acronisDcUrl: datacenterUrl });
        dirty = true;
      }
      const record = plan.records.find((r) => r.organizationId === mapping.organizationId);
      dirty = (await this.writeRecord(em, plan, mapping.organizationId, record, fields)) || dirty;
      return dirty ? changed(mapping.organizationId, false) : null;
    }

    // Its organization from before, unless that one has since been mapped to another tenant.
    for (const record of plan.records.filter((r) => r.acronisTenantId === tenant)) {
      if (await em.exists(OrganizationMapping, { where: { organizationId: record.organizationId } })) continue;
      await em.insert(OrganizationMapping, { organizationId: record.organizationId, acronisTenantId: tenant, acronisDcUrl: datacenterUrl });
      await this.writeRecord(em, plan, record.organizationId, record, fields);
      return changed(record.organizationId, false);
    }

    const organization: Organization = { id: randomUUID(), parentId: partnerId, name, kind: OrganizationKind.Customer };
    await em.insert(Organization, organization);
    await em.insert(OrganizationMapping, { organizationId: organization.id, acronisTenantId: tenant, acronisDcUrl: datacenterUrl });
    await writeMirrored(em, MirroredCustomer, organization.id, undefined, fields);
    return changed(organization.id, true);
  }

  /** Disables one customer; what changed, or null when it already was disabled. */
  private async disable(em: EntityManager, partnerId: string, plan: Plan, tenant: string): Promise<Changed | null> {
    const mapping = plan.mappings.get(tenant);
    if (mapping) {
      await em.delete(OrganizationMapping, { organizationId: mapping.organizationId, acronisTenantId: tenant });
      const record = plan.records.find((r) => r.organizationId === mapping.organizationId);
      const organization = plan.subtree.get(mapping.organizationId) as Organization;
      await this.writeRecord(em, plan, mapping.organizationId, record, {
        partnerOrganizationId: record?.partnerOrganizationId ?? partnerId,
        state: MirroringState.Disabled,
        acronisTenantId: tenant,
        acronisTenantName: record?.acronisTenantName ?? organization.name,
        settings: record?.settings ?? null,
      });
      return { vendor_tenant_id: mapping.organizationId, acronis_tenant_id: tenant };
    }
    // Not mapped (already disabled, or unmapped by another callback): records still saying ENABLED follow.
    const stale = plan.records.filter((r) => r.acronisTenantId === tenant && r.state === MirroringState.Enabled);
    if (stale.length === 0) return null;
    await em.update(MirroredCustomer, { organizationId: In(stale.map((r) => r.organizationId)) }, { state: MirroringState.Disabled });
    return { vendor_tenant_id: stale[0].organizationId, acronis_tenant_id: tenant };
  }

  /**
   * Inserts or updates a customer's record; true when anything changed. An organization that still
   * carries the tenant's previous name (the one the gateway gave it) follows a new one.
   */
  private async writeRecord(
    em: EntityManager,
    plan: Plan,
    organizationId: string,
    record: MirroredCustomer | undefined,
    fields: Pick<MirroredCustomer, 'partnerOrganizationId' | 'state' | 'acronisTenantId' | 'acronisTenantName'> & { settings: MirroringSettings | null },
  ): Promise<boolean> {
    if (!(await writeMirrored(em, MirroredCustomer, organizationId, record, fields))) return false;
    if (!record) return true;
    const organization = plan.subtree.get(organizationId);
    if (organization && organization.name === record.acronisTenantName && organization.name !== fields.acronisTenantName) {
      await em.update(Organization, { id: organizationId }, { name: fields.acronisTenantName });
    }
    return true;
  }

  private async check(em: EntityManager, caller: VerifiedCaller, context: CallbackRequestContext, payload: CustomerMirroringSetStatePayload): Promise<Plan> {
    if (payload.enabled === undefined && payload.disabled === undefined) {
      throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: payload must carry enabled or disabled.');
    }
    const partnerTenant = assertContextTenant('partner_tenant_id', payload.partner_tenant_id, context.tenantId);
    await this.mirroring.requireLink(em, caller.organizationId, partnerTenant);

    const toEnable = (payload.enabled ?? []).map((i) => i.acronis_tenant_id.toLowerCase());
    const toDisable = (payload.disabled ?? []).map((i) => i.acronis_tenant_id.toLowerCase());
    const tenants = [...toEnable, ...toDisable];
    if (new Set(tenants).size !== tenants.length) {
      throw new DomainError(ErrorCode.MappingInvalid, 'Invalid request: an Acronis tenant is named more than once.');
    }
    if (tenants.includes(partnerTenant)) {
      throw new DomainError(ErrorCode.MappingInvalid, "Invalid request: the partner's own Acronis tenant cannot be a customer.");
    }

    const subtree = new Map((await this.organizations.subtree(em, caller.organizationId)).map((o) => [o.id, o]));
    const mappings = new Map(
      (tenants.length ? await em.find(OrganizationMapping, { where: { acronisTenantId: In(tenants) } }) : []).map((m) => [m.acronisTenantId, m]),
    );
    for (const [tenant, mapping] of mappings) {
      const organization = subtree.get(mapping.organizationId);
      if (!organization) throw new DomainError(ErrorCode.Forbidden, `Acronis tenant ${tenant} belongs to another partner's customer.`);
      if (organization.kind !== OrganizationKind.Customer || organization.id === caller.organizationId) {
        throw new DomainError(ErrorCode.MappingInvalid, `Acronis tenant ${tenant} is mapped to an organization that is not a customer.`);
      }
    }
    // The records of the tenants named, and those of the organizations they are mapped to (a
    // record keeps the tenant it was last enabled for, which a mapping made since may not be).
    const mappedIds = [...mappings.values()].map((m) => m.organizationId);
    const found = tenants.length
      ? await em.find(MirroredCustomer, { where: [{ acronisTenantId: In(tenants) }, ...(mappedIds.length ? [{ organizationId: In(mappedIds) }] : [])], order: { updatedAt: 'DESC' } })
      : [];
    const records = found.filter((r) => subtree.has(r.organizationId));
    const unknown = toDisable.find((t) => !mappings.has(t) && !records.some((r) => r.acronisTenantId === t));
    if (unknown) throw new DomainError(ErrorCode.NotFound, `Acronis tenant ${unknown} is not a customer of yours.`);
    return { subtree, mappings, records };
  }
}

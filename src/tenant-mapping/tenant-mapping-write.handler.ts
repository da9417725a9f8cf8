import { Injectable } from '@nestjs/common';
import { EntityManager, In } from 'typeorm';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult, NO_CONTENT_RESPONSE, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { EnablementMethod } from '../callbacks/enablement-method';
import { DomainError, ErrorCode } from '../common/domain-error';
import { OutboxService } from '../events/outbox.service';
import { HookOperation } from '../hooks/hook-operation';
import { OrganizationsService } from '../organizations/organizations.service';
import { OrganizationMapping } from './organization-mapping.entity';
import { TenantMappingWritePayload } from './tenant-mapping.dto';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

const FAILED = 'Failed to write the mapping.';

/**
 * Maps (or, without `acronis_tenant_id`, unmaps) customers of the caller, all or nothing. An
 * Acronis tenant mapped elsewhere moves only from an organization in the caller's subtree.
 */
@CallbackHandler({
  id: 'a.p.tenant_mapping.write.v1.0',
  method: EnablementMethod.MappedCustomers,
  payload: TenantMappingWritePayload,
  responseType: NO_CONTENT_RESPONSE,
  write: true,
  approval: HookOperation.TenantMappingWrite,
  example: {
    summary: 'Map a customer to an Acronis customer tenant (an item without acronis_tenant_id unmaps it)',
    payload: { modified: [{ vendor_tenant_id: EXAMPLE_IDS.customerOrganization, acronis_tenant_id: EXAMPLE_IDS.acronisCustomerTenant }] },
  },
})
@Injectable()
export class TenantMappingWriteHandler implements CallbackHandlerContract<TenantMappingWritePayload> {
  constructor(
    private readonly organizations: OrganizationsService,
    private readonly outbox: OutboxService,
  ) {}

  /** The caller's organization; a request that cannot succeed is refused before the hooks are asked (checked again in the transaction). */
  async approvalOrganization({ em, caller, payload }: PreWriteInvocation<TenantMappingWritePayload>): Promise<string> {
    await this.check(em, caller.organizationId, payload);
    return caller.organizationId;
  }

  async handle({ em, caller, context, payload, report }: CallbackInvocation<TenantMappingWritePayload>): Promise<CallbackResult> {
    const items = payload.modified;
    const { subtree, vendorIds, tenantIds } = await this.check(em, caller.organizationId, payload);

    const postgres = em.connection.options.type === 'postgres';
    if (postgres) {
      // Concurrent writes for the same customers queue here (in id order, so they cannot deadlock)
      // instead of racing to re-insert the same mapping.
      await em.query('SELECT id FROM organizations WHERE id = ANY($1) ORDER BY id FOR UPDATE', [[...vendorIds].sort()]);
    }
    // Read (and on PostgreSQL lock) the current owners only after that, and delete exactly the rows
    // checked: a mapping another partner commits meanwhile is never deleted; it makes the insert
    // below fail on the unique index, and the retry answers 403.
    const inSubtree = new Set(subtree.map((o) => o.id));
    const current = tenantIds.length
      ? await em.find(OrganizationMapping, { where: { acronisTenantId: In(tenantIds) }, ...(postgres ? { lock: { mode: 'pessimistic_write' as const } } : {}) })
      : [];
    if (current.some((m) => !inSubtree.has(m.organizationId))) {
      throw new DomainError(ErrorCode.Forbidden, 'An Acronis tenant is mapped to an organization outside yours.');
    }
    const replaced = [...new Set([...vendorIds, ...current.map((m) => m.organizationId)])];
    if (replaced.length) await em.delete(OrganizationMapping, { organizationId: In(replaced) });
    const rows = items.flatMap((i) =>
      i.acronis_tenant_id
        ? [{ organizationId: i.vendor_tenant_id, acronisTenantId: i.acronis_tenant_id.toLowerCase(), acronisDcUrl: context.datacenterUrl ?? null }]
        : [],
    );
    if (rows.length) await em.insert(OrganizationMapping, rows);

    await this.outbox.record(em, {
      type: 'tenant_mapping.written',
      organizationId: caller.organizationId,
      data: {
        modified: items.map((i) => ({ vendor_tenant_id: i.vendor_tenant_id, acronis_tenant_id: i.acronis_tenant_id?.toLowerCase() ?? null })),
        moved_from: current.filter((m) => !vendorIds.includes(m.organizationId)).map((m) => m.organizationId),
        datacenter_url: context.datacenterUrl ?? null,
      },
    });
    report({ modified: items.length });
    return undefined;
  }

  /** Every item a distinct customer of the caller's, every tenant named once (400 otherwise). */
  private async check(em: EntityManager, organizationId: string, payload: TenantMappingWritePayload) {
    const subtree = await this.organizations.subtree(em, organizationId);
    const customers = new Set(this.organizations.customersIn(subtree, organizationId).map((o) => o.id));
    const vendorIds = payload.modified.map((i) => i.vendor_tenant_id);
    if (vendorIds.some((id) => !customers.has(id)) || new Set(vendorIds).size !== vendorIds.length) {
      throw new DomainError(ErrorCode.MappingInvalid, FAILED);
    }
    const tenantIds = payload.modified.flatMap((i) => (i.acronis_tenant_id ? [i.acronis_tenant_id.toLowerCase()] : []));
    if (new Set(tenantIds).size !== tenantIds.length) throw new DomainError(ErrorCode.MappingInvalid, FAILED);
    return { subtree, vendorIds, tenantIds };
  }
}

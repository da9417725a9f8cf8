import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult, NO_CONTENT_RESPONSE, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { EnablementMethod } from '../callbacks/enablement-method';
import { DomainError, ErrorCode } from '../common/domain-error';
import { OutboxService } from '../events/outbox.service';
import { HookOperation } from '../hooks/hook-operation';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import { EnablementWritePayload } from './enablement.dto';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

/**
 * Maps the caller's organization to the Acronis tenant. Never re-maps: a tenant owned by another
 * organization, or a caller already mapped elsewhere, is a 403; the same mapping again is a no-op.
 */
@CallbackHandler({
  id: 'a.p.enablement.write.v1.0',
  method: EnablementMethod.MappedPartner,
  payload: EnablementWritePayload,
  responseType: NO_CONTENT_RESPONSE,
  write: true,
  approval: HookOperation.EnablementWrite,
  example: {
    summary: "Map the caller's organization to the Acronis partner tenant",
    payload: { vendor_tenant_id: EXAMPLE_IDS.partnerOrganization, acronis_tenant_id: EXAMPLE_IDS.acronisPartnerTenant },
  },
})
@Injectable()
export class EnablementWriteHandler implements CallbackHandlerContract<EnablementWritePayload> {
  constructor(
    private readonly mappings: TenantMappingService,
    private readonly outbox: OutboxService,
  ) {}

  /** The organization the operation is for; a request that cannot succeed is refused first. */
  approvalOrganization({ caller, payload }: PreWriteInvocation<EnablementWritePayload>): Promise<string> {
    checkVendor(caller.organizationId, payload);
    return Promise.resolve(caller.organizationId);
  }

  async handle({ em, caller, context, payload, report }: CallbackInvocation<EnablementWritePayload>): Promise<CallbackResult> {
    const orgId = caller.organizationId;
    const tenantId = payload.acronis_tenant_id.toLowerCase();
    checkVendor(orgId, payload);
    const owner = await this.mappings.findByTenant(em, tenantId);
    if (owner && owner.organizationId !== orgId) {
      throw new DomainError(ErrorCode.Forbidden, 'This Acronis tenant is mapped to another organization.');
    }
    const own = await this.mappings.findByOrganization(em, orgId);
    if (own && own.acronisTenantId !== tenantId) {
      throw new DomainError(ErrorCode.Forbidden, "You're not allowed to re-map this organization to a different Acronis tenant.");
    }
    if (own) {
      report({ vendor_tenant_id: orgId, acronis_tenant_id: tenantId, changed: false });
      return undefined;
    }

    await em.insert(OrganizationMapping, { organizationId: orgId, acronisTenantId: tenantId, acronisDcUrl: context.datacenterUrl ?? null });
    await this.outbox.record(em, {
      type: 'enablement.written',
      organizationId: orgId,
      data: { vendor_tenant_id: orgId, acronis_tenant_id: tenantId, datacenter_url: context.datacenterUrl ?? null },
    });
    report({ vendor_tenant_id: orgId, acronis_tenant_id: tenantId, changed: true });
    return undefined;
  }
}

function checkVendor(organizationId: string, payload: EnablementWritePayload): void {
  if (payload.vendor_tenant_id !== undefined && payload.vendor_tenant_id !== organizationId) {
    throw new DomainError(ErrorCode.Forbidden, 'vendor_tenant_id is not your organization.');
  }
}

import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult, NO_CONTENT_RESPONSE } from '../callbacks/callback-handler.decorator';
import { DomainError, ErrorCode } from '../common/domain-error';
import { OutboxService } from '../events/outbox.service';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import { EnablementWritePayload } from './enablement.dto';

/**
 * Maps the caller's organization to the Acronis tenant. Never re-maps: a tenant owned by another
 * organization, or a caller already mapped elsewhere, is a 403; the same mapping again is a no-op.
 */
@CallbackHandler({ id: 'a.p.enablement.write.v1.0', payload: EnablementWritePayload, responseType: NO_CONTENT_RESPONSE, write: true })
@Injectable()
export class EnablementWriteHandler implements CallbackHandlerContract<EnablementWritePayload> {
  constructor(
    private readonly mappings: TenantMappingService,
    private readonly outbox: OutboxService,
  ) {}

  async handle({ em, caller, context, payload }: CallbackInvocation<EnablementWritePayload>): Promise<CallbackResult> {
    const orgId = caller.organizationId;
    const tenantId = payload.acronis_tenant_id.toLowerCase();
    if (payload.vendor_tenant_id !== undefined && payload.vendor_tenant_id !== orgId) {
      throw new DomainError(ErrorCode.Forbidden, 'vendor_tenant_id is not your organization.');
    }
    const owner = await this.mappings.findByTenant(em, tenantId);
    if (owner && owner.organizationId !== orgId) {
      throw new DomainError(ErrorCode.Forbidden, 'This Acronis tenant is mapped to another organization.');
    }
    const own = await this.mappings.findByOrganization(em, orgId);
    if (own && own.acronisTenantId !== tenantId) {
      throw new DomainError(ErrorCode.Forbidden, "You're not allowed to re-map this organization to a different Acronis tenant.");
    }
    if (own) return undefined;

    await em.insert(OrganizationMapping, { organizationId: orgId, acronisTenantId: tenantId, acronisDcUrl: context.datacenterUrl ?? null });
    await this.outbox.record(em, {
      type: 'enablement.written',
      organizationId: orgId,
      data: { vendor_tenant_id: orgId, acronis_tenant_id: tenantId, datacenter_url: context.datacenterUrl ?? null },
    });
    return undefined;
  }
}

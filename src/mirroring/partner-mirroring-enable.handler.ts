import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackRequestContext, CallbackResult, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { EXAMPLE_IDS } from '../callbacks/callback-example';
import { EnablementMethod } from '../callbacks/enablement-method';
import { DomainError, ErrorCode } from '../common/domain-error';
import { OutboxService } from '../events/outbox.service';
import { HookOperation } from '../hooks/hook-operation';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import { MirroredPartner } from './mirrored-partner.entity';
import { MIRRORING_VERSIONS } from './mirroring-callbacks';
import { PartnerMirroringEnablePayload } from './mirroring.dto';
import { MirroringState } from './mirroring-state';
import { assertContextTenant, MirroringService, OTHER_PARTNER, writeMirrored } from './mirroring.service';

/**
 * Links the caller's organization to its Acronis partner tenant (an `organizations_mapping` row
 * with the request's data center) and stores the tenant's name and settings, ENABLED. Consistent
 * with `enablement.write`: an organization linked to another tenant, or a tenant linked to another
 * organization, is a 403 and nothing changes; enabling again updates name, settings and data center.
 */
@CallbackHandler({
  id: 'a.p.partner.mirroring.enable.v1.0',
  payload: PartnerMirroringEnablePayload,
  responseType: 'a.p.partner.mirroring.enable.ok.v1.0',
  write: true,
  approval: HookOperation.PartnerMirroringEnable,
  method: EnablementMethod.MirroredPartner,
  ...MIRRORING_VERSIONS,
  example: {
    summary: "Link the caller's organization to its Acronis partner tenant, with the CyberApp's settings",
    payload: { acronis_tenant_id: EXAMPLE_IDS.acronisPartnerTenant, acronis_tenant_name: EXAMPLE_IDS.partnerName, settings: { region: 'eu' } },
    response: { state: MirroringState.Enabled, vendor_tenant_id: EXAMPLE_IDS.partnerOrganization, acronis_tenant_id: EXAMPLE_IDS.acronisPartnerTenant },
  },
})
@Injectable()
export class PartnerMirroringEnableHandler implements CallbackHandlerContract<PartnerMirroringEnablePayload> {
  constructor(
    private readonly mirroring: MirroringService,
    private readonly mappings: TenantMappingService,
    private readonly outbox: OutboxService,
  ) {}

  /** The organization the operation is for; a request that cannot succeed is refused first. */
  async approvalOrganization({ em, caller, context, payload }: PreWriteInvocation<PartnerMirroringEnablePayload>): Promise<string> {
    await this.check(em, caller, context, payload);
    return caller.organizationId;
  }

  async handle({ em, caller, context, payload, report }: CallbackInvocation<PartnerMirroringEnablePayload>): Promise<CallbackResult> {
    const orgId = caller.organizationId;
    const { tenant, own } = await this.check(em, caller, context, payload);
    const datacenterUrl = context.datacenterUrl ?? null;
    const settings = payload.settings ?? null;
    let changed = false;
    if (!own) {
      await em.insert(OrganizationMapping, { organizationId: orgId, acronisTenantId: tenant, acronisDcUrl: datacenterUrl });
      changed = true;
    } else if (datacenterUrl !== null && own.acronisDcUrl !== datacenterUrl) {
      await em.update(OrganizationMapping, { organizationId: orgId }, { acronisDcUrl: datacenterUrl });
      changed = true;
    }
    const record = await em.findOne(MirroredPartner, { where: { organizationId: orgId } });
    const fields = { state: MirroringState.Enabled, acronisTenantId: tenant, acronisTenantName: payload.acronis_tenant_name, settings };
    if (await writeMirrored(em, MirroredPartner, orgId, record, fields)) changed = true;
    if (changed) {
      await this.outbox.record(em, {
        type: 'partner.mirroring.enabled',
        organizationId: orgId,
        data: { vendor_tenant_id: orgId, acronis_tenant_id: tenant, acronis_tenant_name: payload.acronis_tenant_name, settings, datacenter_url: datacenterUrl },
      });
    }
    report({ vendor_tenant_id: orgId, acronis_tenant_id: tenant, changed });
    return { state: MirroringState.Enabled, vendor_tenant_id: orgId, acronis_tenant_id: tenant };
  }

  /** The tenant is the request's; neither side is linked to another (403). */
  private async check(em: EntityManager, caller: VerifiedCaller, context: CallbackRequestContext, payload: PartnerMirroringEnablePayload) {
    const tenant = assertContextTenant('acronis_tenant_id', payload.acronis_tenant_id, context.tenantId);
    const own = await this.mirroring.link(em, caller.organizationId);
    if (own && own.acronisTenantId !== tenant) throw new DomainError(ErrorCode.Forbidden, OTHER_PARTNER);
    const owner = await this.mappings.findByTenant(em, tenant);
    if (owner && owner.organizationId !== caller.organizationId) {
      throw new DomainError(ErrorCode.Forbidden, 'This Acronis tenant is linked to another organization.');
    }
    return { tenant, own };
  }
}

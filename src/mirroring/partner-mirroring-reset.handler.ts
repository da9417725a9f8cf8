import { Injectable } from '@nestjs/common';
import { EntityManager, In } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackRequestContext, CallbackResult, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { EnablementMethod } from '../callbacks/enablement-method';
import { DomainError, ErrorCode } from '../common/domain-error';
import { OutboxService } from '../events/outbox.service';
import { HookOperation } from '../hooks/hook-operation';
import { OrganizationsService } from '../organizations/organizations.service';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import { MirroredCustomer } from './mirrored-customer.entity';
import { MirroredPartner } from './mirrored-partner.entity';
import { MIRRORING_VERSIONS } from './mirroring-callbacks';
import { MirroringState } from './mirroring-state';
import { MirroringService, OTHER_PARTNER } from './mirroring.service';

/**
 * Disables the caller's organization for the Acronis tenant asking (`context.tenant_id`): its
 * mirrored-partner record becomes DISABLED, and, as the guide requires, all its customers are
 * disabled too. As `enablement.reset` does, the mappings of the organization and of its whole
 * subtree are removed (the connector and custom callbacks then treat them as unmapped), and the
 * mirrored customers below it are marked DISABLED (kept, so enabling one again reuses it). An
 * organization linked to another tenant is a 403; one not enabled at all answers 200 unchanged.
 */
@CallbackHandler({
  id: 'a.p.partner.mirroring.reset.v1.0',
  requestType: 'a.p.partner.mirroring.reset.v1.0',
  responseType: 'a.p.partner.mirroring.reset.ok.v1.0',
  write: true,
  approval: HookOperation.PartnerMirroringReset,
  method: EnablementMethod.MirroredPartner,
  ...MIRRORING_VERSIONS,
  example: { summary: 'Disable the caller for the Acronis partner tenant asking, and its mirrored customers' },
})
@Injectable()
export class PartnerMirroringResetHandler implements CallbackHandlerContract {
  constructor(
    private readonly mirroring: MirroringService,
    private readonly organizations: OrganizationsService,
    private readonly outbox: OutboxService,
  ) {}

  /** The organization the operation is for; a request that cannot succeed is refused first. */
  async approvalOrganization({ em, caller, context }: PreWriteInvocation<undefined>): Promise<string> {
    await this.check(em, caller, context);
    return caller.organizationId;
  }

  async handle({ em, caller, context, report }: CallbackInvocation): Promise<CallbackResult> {
    const orgId = caller.organizationId;
    const { tenant, link } = await this.check(em, caller, context);
    const record = await em.findOne(MirroredPartner, { where: { organizationId: orgId } });
    if (!link && record?.acronisTenantId !== tenant) {
      report({ vendor_tenant_id: orgId, acronis_tenant_id: tenant, changed: false });
      return undefined;
    }

    const ids = [...(await this.organizations.subtreeIds(em, orgId))];
    const unmapped = await em.find(OrganizationMapping, { where: { organizationId: In(ids) } });
    if (unmapped.length) await em.delete(OrganizationMapping, { organizationId: In(unmapped.map((m) => m.organizationId)) });
    const customers = await em.find(MirroredCustomer, { where: { partnerOrganizationId: In(ids), state: MirroringState.Enabled } });
    if (customers.length) {
      await em.update(MirroredCustomer, { organizationId: In(customers.map((c) => c.organizationId)) }, { state: MirroringState.Disabled });
    }
    const wasEnabled = record?.state === MirroringState.Enabled;
    if (wasEnabled) await em.update(MirroredPartner, { organizationId: orgId }, { state: MirroringState.Disabled });

    const result = {
      vendor_tenant_id: orgId,
      acronis_tenant_id: tenant,
      unmapped: unmapped.map((m) => ({ vendor_tenant_id: m.organizationId, acronis_tenant_id: m.acronisTenantId })),
      disabled_customers: customers.map((c) => ({ vendor_tenant_id: c.organizationId, acronis_tenant_id: c.acronisTenantId })),
    };
    if (unmapped.length || customers.length || wasEnabled) await this.outbox.record(em, { type: 'partner.mirroring.reset', organizationId: orgId, data: result });
    report({ ...result, changed: unmapped.length > 0 || customers.length > 0 || wasEnabled });
    return undefined;
  }

  private async check(em: EntityManager, caller: VerifiedCaller, context: CallbackRequestContext) {
    const tenant = context.tenantId.toLowerCase();
    const link = await this.mirroring.link(em, caller.organizationId);
    if (link && link.acronisTenantId !== tenant) throw new DomainError(ErrorCode.Forbidden, OTHER_PARTNER);
    return { tenant, link };
  }
}

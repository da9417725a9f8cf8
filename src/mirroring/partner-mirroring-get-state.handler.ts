import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { EnablementMethod } from '../callbacks/enablement-method';
import { MirroredPartner } from './mirrored-partner.entity';
import { MIRRORING_VERSIONS } from './mirroring-callbacks';
import { MirroringState } from './mirroring-state';
import { MirroringService } from './mirroring.service';

/**
 * ENABLED when the caller's organization is linked to the Acronis tenant asking
 * (`context.tenant_id`) and not disabled; DISABLED otherwise, also when it is linked to another
 * tenant (that partner's enable is then refused). `settings` as last stored for this tenant.
 */
@CallbackHandler({
  id: 'a.p.partner.mirroring.get_state.v1.0',
  requestType: 'a.p.partner.mirroring.get_state.v1.0',
  responseType: 'a.p.partner.mirroring.get_state.ok.v1.0',
  method: EnablementMethod.MirroredPartner,
  ...MIRRORING_VERSIONS,
  example: { summary: 'Whether the caller is enabled for the Acronis partner tenant asking, with its settings', response: { state: MirroringState.Enabled, settings: { region: 'eu' } } },
})
@Injectable()
export class PartnerMirroringGetStateHandler implements CallbackHandlerContract {
  constructor(private readonly mirroring: MirroringService) {}

  async handle({ em, caller, context }: CallbackInvocation): Promise<CallbackResult> {
    const tenant = context.tenantId.toLowerCase();
    const [link, record] = await Promise.all([
      this.mirroring.link(em, caller.organizationId),
      em.findOne(MirroredPartner, { where: { organizationId: caller.organizationId } }),
    ]);
    const enabled = link?.acronisTenantId === tenant && (record === null || record.state === MirroringState.Enabled);
    const state = enabled ? MirroringState.Enabled : MirroringState.Disabled;
    // Another Acronis tenant's settings are not shown.
    return record?.settings && record.acronisTenantId === tenant ? { state, settings: record.settings } : { state };
  }
}

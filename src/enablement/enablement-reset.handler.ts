import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult, NO_CONTENT_RESPONSE } from '../callbacks/callback-handler.decorator';
import { EnablementMethod } from '../callbacks/enablement-method';
import { OutboxService } from '../events/outbox.service';
import { HookOperation } from '../hooks/hook-operation';
import { OrganizationsService } from '../organizations/organizations.service';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';

/** Removes the mappings of the caller's organization and of its whole subtree. */
@CallbackHandler({
  id: 'a.p.enablement.reset.v1.0',
  method: EnablementMethod.MappedPartner,
  responseType: NO_CONTENT_RESPONSE,
  write: true,
  approval: HookOperation.EnablementReset,
  example: { summary: "Remove the mappings of the caller's organization and of every organization below it" },
})
@Injectable()
export class EnablementResetHandler implements CallbackHandlerContract {
  constructor(
    private readonly organizations: OrganizationsService,
    private readonly outbox: OutboxService,
  ) {}

  async handle({ em, caller, report }: CallbackInvocation): Promise<CallbackResult> {
    const ids = [...(await this.organizations.subtreeIds(em, caller.organizationId))];
    const removed = await em.find(OrganizationMapping, { where: { organizationId: In(ids) } });
    if (removed.length) await em.delete(OrganizationMapping, { organizationId: In(removed.map((m) => m.organizationId)) });
    await this.outbox.record(em, {
      type: 'enablement.reset',
      organizationId: caller.organizationId,
      data: { unmapped: removed.map((m) => ({ vendor_tenant_id: m.organizationId, acronis_tenant_id: m.acronisTenantId })) },
    });
    report({ unmapped: removed.map((m) => ({ vendor_tenant_id: m.organizationId, acronis_tenant_id: m.acronisTenantId })) });
    return undefined;
  }
}

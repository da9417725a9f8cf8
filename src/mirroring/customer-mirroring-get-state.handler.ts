import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { EXAMPLE_IDS } from '../callbacks/callback-example';
import { EnablementMethod } from '../callbacks/enablement-method';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import { MirroredCustomer } from './mirrored-customer.entity';
import { MIRRORING_VERSIONS } from './mirroring-callbacks';
import { MirroringState } from './mirroring-state';
import { MirroringService } from './mirroring.service';

/**
 * The customers the caller enabled through set_state and that are still mapped to their Acronis
 * tenant, by name: `[{vendor_tenant_id, acronis_tenant_id, settings}]`, a list as the guide's
 * example shows (`settings` is `{}` when none were given). Empty when the caller's organization is
 * not linked to the Acronis tenant asking.
 */
@CallbackHandler({
  id: 'a.p.customer.mirroring.get_state.v1.0',
  requestType: 'a.p.customer.mirroring.get_state.v1.0',
  responseType: 'a.p.customer.mirroring.get_state.ok.v1.0',
  method: EnablementMethod.MirroredCustomers,
  ...MIRRORING_VERSIONS,
  example: {
    summary: 'The customers the caller enabled, still mapped to their Acronis tenants (a list)',
    response: [{ vendor_tenant_id: EXAMPLE_IDS.customerOrganization, acronis_tenant_id: EXAMPLE_IDS.acronisCustomerTenant, settings: { plan: 'premium' } }],
  },
})
@Injectable()
export class CustomerMirroringGetStateHandler implements CallbackHandlerContract {
  constructor(private readonly mirroring: MirroringService) {}

  async handle({ em, caller, context }: CallbackInvocation): Promise<CallbackResult> {
    const link = await this.mirroring.link(em, caller.organizationId);
    if (link?.acronisTenantId !== context.tenantId.toLowerCase()) return [];
    const customers = await em.find(MirroredCustomer, {
      where: { partnerOrganizationId: caller.organizationId, state: MirroringState.Enabled },
      order: { acronisTenantName: 'ASC', organizationId: 'ASC' },
    });
    if (customers.length === 0) return [];
    const mapped = new Map(
      (await em.find(OrganizationMapping, { where: { organizationId: In(customers.map((c) => c.organizationId)) } })).map((m) => [m.organizationId, m.acronisTenantId]),
    );
    return customers
      .filter((c) => mapped.get(c.organizationId) === c.acronisTenantId)
      .map((c) => ({ vendor_tenant_id: c.organizationId, acronis_tenant_id: c.acronisTenantId, settings: c.settings ?? {} }));
  }
}

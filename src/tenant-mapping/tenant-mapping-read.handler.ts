import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { EnablementMethod } from '../callbacks/enablement-method';
import { OrganizationsService } from '../organizations/organizations.service';
import { OrganizationMapping } from './organization-mapping.entity';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

/**
 * Every customer of the caller; mapped ones carry `acronis_tenant_id` when the mapping's data
 * center is the request's (or unset). Unmapped customers are listed too, as the docs show.
 */
@CallbackHandler({
  id: 'a.p.tenant_mapping.read.v1.0',
  method: EnablementMethod.MappedCustomers,
  responseType: 'a.p.tenant_mapping.read.ok.v1.0',
  example: {
    summary: "The caller's customers with the Acronis tenants they are mapped to",
    response: { items: [{ vendor_tenant_id: EXAMPLE_IDS.customerOrganization, acronis_tenant_id: EXAMPLE_IDS.acronisCustomerTenant }] },
  },
})
@Injectable()
export class TenantMappingReadHandler implements CallbackHandlerContract {
  constructor(private readonly organizations: OrganizationsService) {}

  async handle({ em, caller, context }: CallbackInvocation): Promise<CallbackResult> {
    const customers = await this.organizations.customersOf(em, caller.organizationId);
    const mappings = customers.length
      ? await em.find(OrganizationMapping, { where: { organizationId: In(customers.map((c) => c.id)) } })
      : [];
    const visible = new Map(
      mappings
        .filter((m) => m.acronisDcUrl === null || m.acronisDcUrl === context.datacenterUrl)
        .map((m) => [m.organizationId, m.acronisTenantId]),
    );
    return {
      items: customers.map((c) => {
        const acronisTenantId = visible.get(c.id);
        return acronisTenantId ? { vendor_tenant_id: c.id, acronis_tenant_id: acronisTenantId } : { vendor_tenant_id: c.id };
      }),
    };
  }
}

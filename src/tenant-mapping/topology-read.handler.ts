import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { EnablementMethod } from '../callbacks/enablement-method';
import { OrganizationsService } from '../organizations/organizations.service';
import { TopologyReadPayload } from './tenant-mapping.dto';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

/** The caller's customers at any depth, by name, with optional paging. */
@CallbackHandler({
  id: 'a.p.topology.read.v1.0',
  method: EnablementMethod.MappedCustomers,
  payload: TopologyReadPayload,
  responseType: 'a.p.topology.read.ok.v1.0',
  example: {
    summary: "The caller's customers, first page",
    payload: { paging: { offset: 0, limit: 100 } },
    response: { items: [{ id: EXAMPLE_IDS.customerOrganization, name: EXAMPLE_IDS.customerName }] },
  },
})
@Injectable()
export class TopologyReadHandler implements CallbackHandlerContract<TopologyReadPayload> {
  constructor(private readonly organizations: OrganizationsService) {}

  async handle({ em, caller, payload }: CallbackInvocation<TopologyReadPayload>): Promise<CallbackResult> {
    const customers = await this.organizations.customersOf(em, caller.organizationId);
    const offset = payload.paging?.offset ?? 0;
    const limit = payload.paging?.limit ?? customers.length;
    return { items: customers.slice(offset, offset + limit).map((o) => ({ id: o.id, name: o.name })) };
  }
}

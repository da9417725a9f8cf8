import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import { UsersReadPayload } from './users.dto';
import { UsersService } from './users.service';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

/** Users of the organization mapped to the tenant (and its mapped descendants); none when unmapped. */
@CallbackHandler({
  id: '{APP_CODE}.users_read.v1.0',
  payload: UsersReadPayload,
  responseType: '{APP_CODE}.users_read_success.v1.0',
  example: {
    summary: 'The users of the organization mapped to the customer tenant',
    tenantId: EXAMPLE_IDS.acronisCustomerTenant,
    payload: {},
    response: { items: [{ id: EXAMPLE_IDS.user, name: 'Jane Doe', email: 'jane.doe@example.com' }] },
  },
})
@Injectable()
export class UsersReadHandler implements CallbackHandlerContract<UsersReadPayload> {
  constructor(
    private readonly tenants: TenantMappingService,
    private readonly users: UsersService,
  ) {}

  async handle({ em, caller, context }: CallbackInvocation<UsersReadPayload>): Promise<CallbackResult> {
    const target = await this.tenants.resolveTarget(em, caller, context.tenantId);
    return { items: target ? await this.users.listVisible(em, target.organizationId) : [] };
  }
}

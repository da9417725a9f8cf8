import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { HookOperation } from '../hooks/hook-operation';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import { UserWritePayload } from './users.dto';
import { UsersService } from './users.service';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

/** Creates a user (without a password) in the organization mapped to the tenant. */
@CallbackHandler({
  id: '{APP_CODE}.user_write.v1.0',
  payload: UserWritePayload,
  responseType: '{APP_CODE}.user_write_success.v1.0',
  write: true,
  approval: HookOperation.UserCreate,
  example: {
    summary: 'Create a user (without a password) in the organization mapped to the customer tenant',
    tenantId: EXAMPLE_IDS.acronisCustomerTenant,
    payload: { login: 'john.roe', name: 'John Roe', email: 'john.roe@example.com' },
  },
})
@Injectable()
export class UserWriteHandler implements CallbackHandlerContract<UserWritePayload> {
  constructor(
    private readonly tenants: TenantMappingService,
    private readonly users: UsersService,
  ) {}

  /** The organization the operation is for; a request that cannot succeed is refused first. */
  async approvalOrganization({ em, caller, context }: PreWriteInvocation<UserWritePayload>): Promise<string> {
    const target = await this.tenants.requireTarget(em, caller, context.tenantId);
    return target.organizationId;
  }

  async handle({ em, caller, context, payload, report }: CallbackInvocation<UserWritePayload>): Promise<CallbackResult> {
    const target = await this.tenants.requireTarget(em, caller, context.tenantId);
    const user = await this.users.create(em, target.organizationId, payload);
    report({ user_id: user.id, login: user.login });
    return undefined;
  }
}

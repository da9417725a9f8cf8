import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { HookApprovalsService } from '../hooks/hook-approvals.service';
import { hookInput } from '../hooks/hook-input';
import { HookOperation } from '../hooks/hook-operation';
import type { OperationApproval } from '../hooks/operation-approval';
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
    private readonly hooks: HookApprovalsService,
  ) {}

  /** Approval hooks of `user.create`, for the organization mapped to the tenant (unmapped: 404 first). */
  async approve({ em, caller, context, payload }: PreWriteInvocation<UserWritePayload>): Promise<OperationApproval> {
    const target = await this.tenants.requireTarget(em, caller, context.tenantId);
    return this.hooks.approve({ operation: HookOperation.UserCreate, organizationId: target.organizationId, authId: caller.login, input: hookInput(payload) });
  }

  async handle({ em, caller, context, payload, approval }: CallbackInvocation<UserWritePayload>): Promise<CallbackResult> {
    const target = await this.tenants.requireTarget(em, caller, context.tenantId);
    const user = await this.users.create(em, target.organizationId, payload);
    await approval?.succeeded(em, { user_id: user.id, login: user.login });
    return undefined;
  }
}

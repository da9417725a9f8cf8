import { Injectable } from '@nestjs/common';
import { CredentialCache } from '../auth/credential-cache.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { HookApprovalsService } from '../hooks/hook-approvals.service';
import { hookInput } from '../hooks/hook-input';
import { HookOperation } from '../hooks/hook-operation';
import type { OperationApproval } from '../hooks/operation-approval';
import { UserIdPayload } from './users.dto';
import { UsersService } from './users.service';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

@CallbackHandler({
  id: '{APP_CODE}.user_delete.v1.0',
  payload: UserIdPayload,
  responseType: '{APP_CODE}.user_delete_success.v1.0',
  write: true,
  example: { summary: 'Delete a user', tenantId: EXAMPLE_IDS.acronisCustomerTenant, payload: { id: EXAMPLE_IDS.user } },
})
@Injectable()
export class UserDeleteHandler implements CallbackHandlerContract<UserIdPayload> {
  constructor(
    private readonly users: UsersService,
    private readonly credentials: CredentialCache,
    private readonly hooks: HookApprovalsService,
  ) {}

  /** Approval hooks of `user.delete` (an unknown user is a 404 first). */
  async approve({ em, caller, context, payload }: PreWriteInvocation<UserIdPayload>): Promise<OperationApproval> {
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    return this.hooks.approve({ operation: HookOperation.UserDelete, organizationId: user.organizationId, authId: caller.login, input: hookInput(payload) });
  }

  async handle({ em, caller, context, payload, afterCommit, approval }: CallbackInvocation<UserIdPayload>): Promise<CallbackResult> {
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    await this.users.remove(em, user);
    await approval?.succeeded(em, { user_id: user.id });
    afterCommit(() => this.credentials.invalidateUser(user.id));
    return undefined;
  }
}

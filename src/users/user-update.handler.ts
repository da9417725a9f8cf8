import { Injectable } from '@nestjs/common';
import { CredentialCache } from '../auth/credential-cache.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { HookApprovalsService } from '../hooks/hook-approvals.service';
import { hookInput } from '../hooks/hook-input';
import { HookOperation } from '../hooks/hook-operation';
import type { OperationApproval } from '../hooks/operation-approval';
import { DomainError, ErrorCode } from '../common/domain-error';
import { UserUpdatePayload } from './users.dto';
import { UsersService } from './users.service';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

/** Changes a user's name and/or email (at least one) in the organization mapped to the tenant. */
@CallbackHandler({
  id: '{APP_CODE}.user_update.v1.0',
  payload: UserUpdatePayload,
  responseType: '{APP_CODE}.user_update_success.v1.0',
  write: true,
  example: {
    summary: "Change a user's name and email",
    tenantId: EXAMPLE_IDS.acronisCustomerTenant,
    payload: { id: EXAMPLE_IDS.user, name: 'Jane Smith', email: 'jane.smith@example.com' },
  },
})
@Injectable()
export class UserUpdateHandler implements CallbackHandlerContract<UserUpdatePayload> {
  constructor(
    private readonly users: UsersService,
    private readonly credentials: CredentialCache,
    private readonly hooks: HookApprovalsService,
  ) {}

  /** Approval hooks of `user.update`, once the request is known to be valid (an unknown user is a 404 first). */
  async approve({ em, caller, context, payload }: PreWriteInvocation<UserUpdatePayload>): Promise<OperationApproval> {
    checkChanges(payload);
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    return this.hooks.approve({ operation: HookOperation.UserUpdate, organizationId: user.organizationId, authId: caller.login, input: hookInput(payload) });
  }

  async handle({ em, caller, context, payload, afterCommit, approval }: CallbackInvocation<UserUpdatePayload>): Promise<CallbackResult> {
    checkChanges(payload);
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    await this.users.update(em, user, { name: payload.name, email: payload.email });
    await approval?.succeeded(em, { user_id: user.id });
    afterCommit(() => this.credentials.invalidateUser(user.id));
    return undefined;
  }
}

function checkChanges(payload: UserUpdatePayload): void {
  if (payload.name === undefined && payload.email === undefined) {
    throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: payload needs name or email.');
  }
}

import { Injectable } from '@nestjs/common';
import { CredentialCache } from '../auth/credential-cache.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { HookOperation } from '../hooks/hook-operation';
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
  approval: HookOperation.UserUpdate,
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
  ) {}

  /** The organization the operation is for; a request that cannot succeed is refused first. */
  async approvalOrganization({ em, caller, context, payload }: PreWriteInvocation<UserUpdatePayload>): Promise<string> {
    checkChanges(payload);
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    return user.organizationId;
  }

  async handle({ em, caller, context, payload, afterCommit, report }: CallbackInvocation<UserUpdatePayload>): Promise<CallbackResult> {
    checkChanges(payload);
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    await this.users.update(em, user, { name: payload.name, email: payload.email });
    report({ user_id: user.id });
    afterCommit(() => this.credentials.invalidateUser(user.id));
    return undefined;
  }
}

function checkChanges(payload: UserUpdatePayload): void {
  if (payload.name === undefined && payload.email === undefined) {
    throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: payload needs name or email.');
  }
}

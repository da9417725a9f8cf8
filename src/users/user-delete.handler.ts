import { Injectable } from '@nestjs/common';
import { CredentialCache } from '../auth/credential-cache.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult, PreWriteInvocation } from '../callbacks/callback-handler.decorator';
import { HookOperation } from '../hooks/hook-operation';
import { UserIdPayload } from './users.dto';
import { UsersService } from './users.service';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

@CallbackHandler({
  id: '{APP_CODE}.user_delete.v1.0',
  payload: UserIdPayload,
  responseType: '{APP_CODE}.user_delete_success.v1.0',
  write: true,
  approval: HookOperation.UserDelete,
  example: { summary: 'Delete a user', tenantId: EXAMPLE_IDS.acronisCustomerTenant, payload: { id: EXAMPLE_IDS.user } },
})
@Injectable()
export class UserDeleteHandler implements CallbackHandlerContract<UserIdPayload> {
  constructor(
    private readonly users: UsersService,
    private readonly credentials: CredentialCache,
  ) {}

  /** The organization the operation is for; a request that cannot succeed is refused first. */
  async approvalOrganization({ em, caller, context, payload }: PreWriteInvocation<UserIdPayload>): Promise<string> {
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    return user.organizationId;
  }

  async handle({ em, caller, context, payload, afterCommit, report }: CallbackInvocation<UserIdPayload>): Promise<CallbackResult> {
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    await this.users.remove(em, user);
    report({ user_id: user.id });
    afterCommit(() => this.credentials.invalidateUser(user.id));
    return undefined;
  }
}

import { Injectable } from '@nestjs/common';
import { CredentialCache } from '../auth/credential-cache.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { DomainError, ErrorCode } from '../common/domain-error';
import { UserUpdatePayload } from './users.dto';
import { UsersService } from './users.service';

/** Changes a user's name and/or email (at least one) in the organization mapped to the tenant. */
@CallbackHandler({ id: '{APP_CODE}.user_update.v1.0', payload: UserUpdatePayload, responseType: '{APP_CODE}.user_update_success.v1.0', write: true })
@Injectable()
export class UserUpdateHandler implements CallbackHandlerContract<UserUpdatePayload> {
  constructor(
    private readonly users: UsersService,
    private readonly credentials: CredentialCache,
  ) {}

  async handle({ em, caller, context, payload, afterCommit }: CallbackInvocation<UserUpdatePayload>): Promise<CallbackResult> {
    if (payload.name === undefined && payload.email === undefined) {
      throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: payload needs name or email.');
    }
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    await this.users.update(em, user, { name: payload.name, email: payload.email });
    afterCommit(() => this.credentials.invalidateUser(user.id));
    return undefined;
  }
}

import { Injectable } from '@nestjs/common';
import { CredentialCache } from '../auth/credential-cache.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { UserIdPayload } from './users.dto';
import { UsersService } from './users.service';

@CallbackHandler({ id: '{APP_CODE}.user_delete.v1.0', payload: UserIdPayload, responseType: '{APP_CODE}.user_delete_success.v1.0', write: true })
@Injectable()
export class UserDeleteHandler implements CallbackHandlerContract<UserIdPayload> {
  constructor(
    private readonly users: UsersService,
    private readonly credentials: CredentialCache,
  ) {}

  async handle({ em, caller, context, payload, afterCommit }: CallbackInvocation<UserIdPayload>): Promise<CallbackResult> {
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    await this.users.remove(em, user);
    afterCommit(() => this.credentials.invalidateUser(user.id));
    return undefined;
  }
}

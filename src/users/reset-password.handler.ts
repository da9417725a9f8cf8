import { Injectable } from '@nestjs/common';
import { CredentialCache } from '../auth/credential-cache.service';
import { PasswordHasher } from '../auth/password-hasher.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { UserIdPayload } from './users.dto';
import { UsersService } from './users.service';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

/** Sets a generated password (argon2id) and returns it once. */
@CallbackHandler({
  id: '{APP_CODE}.reset_password.v1.0',
  payload: UserIdPayload,
  responseType: '{APP_CODE}.reset_password_success.v1.0',
  write: true,
  example: {
    summary: "Set a generated password for a user and return it once",
    tenantId: EXAMPLE_IDS.acronisCustomerTenant,
    payload: { id: EXAMPLE_IDS.user },
    response: { password: 'q8Zt2vN5xK1mR7wP4yL0aB3c' },
  },
})
@Injectable()
export class ResetPasswordHandler implements CallbackHandlerContract<UserIdPayload> {
  constructor(
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly credentials: CredentialCache,
  ) {}

  async handle({ em, caller, context, payload, afterCommit }: CallbackInvocation<UserIdPayload>): Promise<CallbackResult> {
    const user = await this.users.findInTenant(em, caller, context.tenantId, payload.id);
    const password = this.hasher.generatePassword();
    await this.users.setPassword(em, user, await this.hasher.hash(password));
    afterCommit(() => this.credentials.invalidateUser(user.id));
    return { password };
  }
}

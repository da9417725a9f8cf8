import { Injectable } from '@nestjs/common';
import { CredentialCache } from '../auth/credential-cache.service';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import { UserIdPayload } from './users.dto';
import { UsersService } from './users.service';

@CallbackHandler({ id: '{APP_CODE}.user_delete.v1.0', payload: UserIdPayload, responseType: '{APP_CODE}.user_delete_success.v1.0', write: true })
@Injectable()
export class UserDeleteHandler implements CallbackHandlerContract<UserIdPayload> {
  constructor(
    private readonly tenants: TenantMappingService,
    private readonly users: UsersService,
    private readonly credentials: CredentialCache,
  ) {}

  async handle({ em, caller, context, payload, afterCommit }: CallbackInvocation<UserIdPayload>): Promise<CallbackResult> {
    const target = await this.tenants.requireTarget(em, caller, context.tenantId);
    const user = await this.users.findInOrganization(em, target.organizationId, payload.id);
    await this.users.remove(em, user);
    afterCommit(() => this.credentials.invalidateUser(user.id));
    return undefined;
  }
}

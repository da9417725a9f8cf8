import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import { UserWritePayload } from './users.dto';
import { UsersService } from './users.service';

/** Creates a user (without a password) in the organization mapped to the tenant. */
@CallbackHandler({ id: '{APP_CODE}.user_write.v1.0', payload: UserWritePayload, responseType: '{APP_CODE}.user_write_success.v1.0', write: true })
@Injectable()
export class UserWriteHandler implements CallbackHandlerContract<UserWritePayload> {
  constructor(
    private readonly tenants: TenantMappingService,
    private readonly users: UsersService,
  ) {}

  async handle({ em, caller, context, payload }: CallbackInvocation<UserWritePayload>): Promise<CallbackResult> {
    const target = await this.tenants.requireTarget(em, caller, context.tenantId);
    await this.users.create(em, target.organizationId, payload);
    return undefined;
  }
}

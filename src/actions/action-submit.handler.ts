import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import { ActionLedgerService } from './action-ledger.service';
import { SubmitActionDto } from './actions.dto';
import { EXAMPLE_IDS } from '../callbacks/callback-example';
import { ActionState } from './action.entity';

/**
 * `{APP_CODE}.action_submit.v1.0`: submits an action from the Acronis UI in the organization mapped
 * to the tenant (payload as `POST /api/actions` minus `organization_id`), answering its id and state.
 * A retried request_id answers the stored response: the action is written once.
 */
@CallbackHandler({
  id: '{APP_CODE}.action_submit.v1.0',
  payload: SubmitActionDto,
  responseType: '{APP_CODE}.action_submit_success.v1.0',
  write: true,
  example: {
    summary: "Submit an action to a handler of the customer's organization",
    tenantId: EXAMPLE_IDS.acronisCustomerTenant,
    payload: { capability: 'ExecuteCommand', parameters: { Command: 'uptime' }, timeout_ms: 300_000 },
    response: { id: EXAMPLE_IDS.action, state: ActionState.Pending, handler_id: EXAMPLE_IDS.actionHandler, expires_at: '2024-11-24T10:05:00.000Z' },
  },
})
@Injectable()
export class ActionSubmitHandler implements CallbackHandlerContract<SubmitActionDto> {
  constructor(
    private readonly tenants: TenantMappingService,
    private readonly ledger: ActionLedgerService,
  ) {}

  async handle({ em, caller, context, payload, afterCommit }: CallbackInvocation<SubmitActionDto>): Promise<CallbackResult> {
    const target = await this.tenants.requireTarget(em, caller, context.tenantId);
    const action = await this.ledger.write(em, target.organizationId, { ...payload, organization_id: undefined }, caller.login);
    afterCommit(() => this.ledger.announce(action));
    return { id: action.id, state: action.state, handler_id: action.handlerId, expires_at: action.expiresAt.toISOString() };
  }
}

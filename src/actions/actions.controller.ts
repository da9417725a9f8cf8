import { Body, Controller, Get, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { CYBERAPP_AUTH_SCHEME } from '../openapi';
import { ActionLedgerService } from './action-ledger.service';
import { ListActionsQueryDto, SubmitActionDto } from './actions.dto';
import { ActionPage, ActionView } from './actions.views';

/**
 * Actions (issue 9) under `/api/actions`, with the callbacks' credentials and error envelope,
 * confined to the caller's organization and its subtree (foreign or unknown ids answer 404,
 * a foreign `organization_id` 403). Submitting writes the action to the ledger (pending) and
 * answers 201 before it is sent; its state and result are read back with GET.
 */
@ApiTags('actions')
@ApiSecurity(CYBERAPP_AUTH_SCHEME)
@ApiErrorResponses(400, 401, 429)
@Controller('api/actions')
@UseGuards(CyberAppAuthGuard)
export class ActionsController {
  constructor(private readonly ledger: ActionLedgerService) {}

  @Post()
  @ApiOperation({ summary: 'Submit an action', description: 'Mandatory parameters of the capability must be present; unknown ones are refused (400).' })
  @ApiCreatedResponse({ type: ActionView, description: 'Written to the ledger, pending: not sent yet.' })
  @ApiErrorResponses(403, 404)
  submit(@Body() body: SubmitActionDto, @Caller() caller: VerifiedCaller): Promise<ActionView> {
    return this.ledger.submit(caller, body);
  }

  @Get()
  @ApiOperation({ summary: 'List actions, newest first', description: 'Filters: organization_id, handler_id, state, capability; limit; page by key with before (or by offset).' })
  @ApiOkResponse({ type: ActionPage })
  @ApiErrorResponses(403)
  list(@Query() query: ListActionsQueryDto, @Caller() caller: VerifiedCaller): Promise<ActionPage> {
    return this.ledger.list(caller, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Read an action with its state and result' })
  @ApiOkResponse({ type: ActionView })
  @ApiErrorResponses(404)
  get(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<ActionView> {
    return this.ledger.get(caller, id);
  }
}

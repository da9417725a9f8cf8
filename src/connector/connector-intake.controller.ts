import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { NoBody } from '../common/no-body.pipe';
import { connectorConfig, ConnectorConfig } from '../config/connector.config';
import { CYBERAPP_AUTH_SCHEME } from '../openapi';
import { IntakeBatchDto, ListItemsQueryDto, parseIntakeBatch } from './connector-intake.dto';
import { ConnectorItemsService } from './connector-items.service';
import { ConnectorItemDetailView, ConnectorItemPage, ConnectorItemView, IntakeResult } from './connector.views';

/**
 * The intake API for the vendor's own systems: alerts and workloads for one of the caller's
 * organizations, queued for the connector. Same credentials as the callbacks (`X-CyberApp-Auth`),
 * no platform JWT: these calls come from the vendor, not from the Acronis gateway.
 *
 * Decisions: an `organization_id` outside the caller's subtree answers 403 whether or not it
 * exists (callers cannot probe for other partners' ids); an item id outside it answers 404, as an
 * unknown one. Idempotency keys are scoped per organization and do not expire. An unknown field, at
 * any depth but inside `attributes` and `fields` (free-form), is a 400 naming it, unlike on the
 * callbacks. A batch is all or nothing.
 */
@ApiTags('connector')
@ApiSecurity(CYBERAPP_AUTH_SCHEME)
@ApiErrorResponses(400, 401, 429)
@Controller('api/connector/items')
@UseGuards(CyberAppAuthGuard)
export class ConnectorIntakeController {
  constructor(
    private readonly items: ConnectorItemsService,
    @Inject(connectorConfig.KEY) private readonly config: ConnectorConfig,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Queue alerts and workloads for one organization', description: 'All or nothing; replays of a stored key with the same body answer the stored item (`created: false`).' })
  @ApiBody({ type: IntakeBatchDto })
  @ApiAcceptedResponse({ type: IntakeResult, description: 'Stored for the next run (or at once with `send_now`), not yet sent.' })
  @ApiErrorResponses(403, 409, 413)
  async submit(@Body() body: unknown, @Caller() caller: VerifiedCaller): Promise<IntakeResult> {
    const batch = await parseIntakeBatch(body, this.config.intakeMaxBatch, this.config.workloadKeyAttribute);
    return { items: await this.items.submit(caller, batch) };
  }

  @Get()
  @ApiOperation({ summary: "The caller's items, newest first" })
  @ApiOkResponse({ type: ConnectorItemPage })
  @ApiErrorResponses(403)
  list(@Query() query: ListItemsQueryDto, @Caller() caller: VerifiedCaller): Promise<ConnectorItemPage> {
    return this.items.list(caller, query);
  }

  @Post(':id/send-now')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Send a pending or failed item now',
    description: 'The item becomes pending and due at once, and a connector run is asked for. A failed item gets one more attempt (the attempt count goes on). 409 for an item being sent, sent or cancelled.',
  })
  @ApiParam({ name: 'id', description: 'Item id' })
  @ApiOkResponse({ type: ConnectorItemView, description: 'The item, pending and due now (without its body).' })
  @ApiErrorResponses(404, 409)
  sendNow(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<ConnectorItemView> {
    return this.items.sendNow(caller, id);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One item with its body' })
  @ApiParam({ name: 'id', description: 'Item id' })
  @ApiOkResponse({ type: ConnectorItemDetailView })
  @ApiErrorResponses(404)
  get(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<ConnectorItemDetailView> {
    return this.items.get(caller, id);
  }
}

import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { NoBody } from '../common/no-body.pipe';
import { CYBERAPP_AUTH_SCHEME } from '../openapi';
import { WebhookDeliveriesService } from './webhook-deliveries.service';
import { DeleteDeliveriesQueryDto, ListDeliveriesQueryDto, parseBulkDelete } from './webhooks.dto';
import { DeletedCount, DeliveryPage, DeliveryView } from './webhooks.views';

/**
 * Webhook deliveries (docs/architecture.md, flow 2, API) under `/api/webhooks/deliveries`, same credentials, scope and
 * error envelope as {@link WebhooksController}, whose TSDoc lists the shared decisions.
 *
 * Decisions:
 * - Filters: `subscription_id` (foreign or unknown: 404, like any subscription id), `event_type`
 *   (exact), `since` (inclusive) and `until` (exclusive) on `created_at` as ISO 8601 date-times
 *   (`since` after `until` is a 400), `success` (true: succeeded, false: failed, i.e. given up;
 *   pending and in-flight ones match neither) and `state`.
 * - A delivery is shown with `attempt_count` and its `attempts` (oldest first) and its `payload`, the
 *   exact text that every attempt sends and signs.
 * - A delivery being sent (`delivering`) is never deleted: deleting it alone answers 409, a bulk
 *   deletion leaves it. The bulk deletion needs `subscription_id` and refuses unknown parameters
 *   (a misspelt filter would otherwise widen what is deleted).
 * - Redelivery records a new delivery of the same event (same event id, so receivers can
 *   de-duplicate) due at once, `redelivery_of` naming the original; 409 when the subscription is
 *   disabled. It answers 202: accepted, not yet sent.
 * - Retention (WebhookRetentionJob) sweeps finished deliveries older than WEBHOOKS_RETENTION_DAYS
 *   (failed ones never younger) and, with WEBHOOKS_RETENTION_PER_SUBSCRIPTION, succeeded ones
 *   beyond a subscription's newest N.
 */
@ApiTags('webhook deliveries')
@ApiSecurity(CYBERAPP_AUTH_SCHEME)
@ApiErrorResponses(400, 401, 429)
@Controller('api/webhooks/deliveries')
@UseGuards(CyberAppAuthGuard)
export class WebhookDeliveriesController {
  constructor(private readonly deliveries: WebhookDeliveriesService) {}

  @Get()
  @ApiOperation({ summary: 'The delivery log, newest first, with every attempt' })
  @ApiOkResponse({ type: DeliveryPage })
  @ApiErrorResponses(404)
  list(@Query() query: ListDeliveriesQueryDto, @Caller() caller: VerifiedCaller): Promise<DeliveryPage> {
    return this.deliveries.list(caller, query);
  }

  @Delete()
  @ApiOperation({ summary: "Delete a subscription's deliveries that match (never one being sent)", description: 'Unknown query parameters are a 400.' })
  @ApiQuery({ type: DeleteDeliveriesQueryDto })
  @ApiOkResponse({ type: DeletedCount })
  @ApiErrorResponses(404)
  // Not a typed @Query: unknown parameters are refused here, before the filters are validated.
  async removeMany(@Query() query: Record<string, unknown>, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<DeletedCount> {
    return this.deliveries.removeMany(caller, await parseBulkDelete(query));
  }

  @Get(':id')
  @ApiOperation({ summary: 'Read a delivery with its attempts' })
  @ApiParam({ name: 'id', description: 'Delivery id' })
  @ApiOkResponse({ type: DeliveryView })
  @ApiErrorResponses(404)
  get(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<DeliveryView> {
    return this.deliveries.get(caller, id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a delivery' })
  @ApiParam({ name: 'id', description: 'Delivery id' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrorResponses(404, 409)
  async remove(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<void> {
    await this.deliveries.remove(caller, id);
  }

  @Post(':id/redeliver')
  @HttpCode(202)
  @ApiOperation({ summary: 'Deliver the same event again (same id, same bytes)' })
  @ApiParam({ name: 'id', description: 'Delivery id' })
  @ApiAcceptedResponse({ type: DeliveryView, description: 'The new delivery, pending and due now.' })
  @ApiErrorResponses(404, 409)
  redeliver(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<DeliveryView> {
    return this.deliveries.redeliver(caller, id);
  }
}

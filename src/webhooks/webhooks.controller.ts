import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiBody, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { NoBody } from '../common/no-body.pipe';
import { CYBERAPP_AUTH_SCHEME } from '../openapi';
import { WebhookSubscriptionsService } from './webhook-subscriptions.service';
import { assertChanges, CreateSubscriptionDto, ListSubscriptionsQueryDto, RotateSecretDto, TestDeliveryDto, UpdateSubscriptionDto } from './webhooks.dto';
import { SubscriptionPage, SubscriptionView, SubscriptionWithSecretView, TestDeliveryView } from './webhooks.views';

/**
 * Webhook subscriptions (docs/architecture.md, flow 2, API): CloudStack's webhook model on our organization tree,
 * under `/api/webhooks`, with the callbacks' credentials (`X-CyberApp-Auth`, no platform JWT) and
 * errors in the callbacks' error envelope. Deliveries: {@link WebhookDeliveriesController}.
 *
 * Decisions:
 * - Visibility: a caller sees and manages the subscriptions of its organization and of every
 *   organization below it, and the deliveries of those subscriptions. A foreign or unknown
 *   subscription or delivery id answers 404 alike; a foreign or unknown `organization_id` (body or
 *   query) answers 403 alike, so that nobody can probe for other partners' ids.
 * - Scope `Global` only for a subscription owned by the root organization (the only one without a
 *   parent) and created or changed by a user of it; anyone else gets 403. With several top-level
 *   organizations there is no root and Global is refused: it would see other trees' events. `Domain` on a customer is allowed
 *   (customers have no children, so it is the same as `Local`).
 * - Payload URLs are checked when saved (and again by the sender on every connection): http or
 *   https, no credentials, https when `ssl_verification` is on (the default, so an http URL needs
 *   `"ssl_verification": false`), and every address the host resolves to public unless
 *   WEBHOOKS_ALLOWED_PRIVATE lists it. The URL is stored as given.
 * - Secrets: 1 to 255 characters, generated (`whsec_` + 32 random bytes) when none is given. Only
 *   the answers of create and rotate-secret carry `secret`; every other view says `has_secret`.
 *   Secrets never appear in error messages or logs. PATCH `secret` replaces it at once; rotate-secret
 *   keeps the previous one signing for WEBHOOKS_ROTATION_OVERLAP_HOURS (0: no overlap), and a second
 *   rotation within the overlap drops the oldest.
 * - PATCH takes any field of create but `organization_id` (ownership does not move: 400), at least
 *   one; `filters` replaces the whole list; `description: null` clears it; `enabled: true` clears
 *   `disabled_reason`. A `null` for any other field is a 400, never "unchanged".
 * - An unknown body field, at any depth (`filters[].vaule`), is a 400 naming it, unlike on the
 *   callbacks: a typo must not change the meaning (`scpoe` would create a Local subscription, a
 *   misspelt `secret` get a generated one). Lists are newest first (`created_at`, then `id`) with
 *   `limit` and `before` (the last id of the previous page: by key) or `offset`, with the `total` that matches.
 * - The test delivery sends `TEST.WEBHOOK` with a random event id, signed with the current secret
 *   and the previous one while it overlaps, `User-Agent: CS-Hookshot/<creator or organization>`;
 *   it stores nothing, also works on a disabled subscription, and answers 200 whatever the receiver
 *   said (`success` tells).
 * - Deleting a subscription deletes its deliveries and their attempts (foreign keys on delete
 *   cascade; TypeORM turns SQLite's foreign keys on).
 * - Subscription changes record no domain event: the events feed webhooks, and a webhook's own
 *   configuration is not an event of the organization. They do run the approval hooks registered
 *   for `webhook.create|update|delete|rotate_secret` (src/hooks): a veto answers 403.
 * - Hook endpoints are subscription rows of kind `hook` (src/hooks): this API neither lists nor
 *   reaches them (404), and their deliveries are not in its delivery log.
 */
@ApiTags('webhooks')
@ApiSecurity(CYBERAPP_AUTH_SCHEME)
@ApiErrorResponses(400, 401, 429)
@Controller('api/webhooks')
@UseGuards(CyberAppAuthGuard)
export class WebhooksController {
  constructor(private readonly subscriptions: WebhookSubscriptionsService) {}

  @Post()
  @ApiOperation({ summary: 'Create a subscription' })
  @ApiCreatedResponse({ type: SubscriptionWithSecretView, description: 'Created; the only answer besides rotate-secret that shows `secret`.' })
  @ApiErrorResponses(403)
  create(@Body() body: CreateSubscriptionDto, @Caller() caller: VerifiedCaller): Promise<SubscriptionWithSecretView> {
    return this.subscriptions.create(caller, body);
  }

  @Get()
  @ApiOperation({ summary: 'List visible subscriptions, newest first' })
  @ApiOkResponse({ type: SubscriptionPage })
  @ApiErrorResponses(403)
  list(@Query() query: ListSubscriptionsQueryDto, @Caller() caller: VerifiedCaller): Promise<SubscriptionPage> {
    return this.subscriptions.list(caller, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Read a subscription' })
  @ApiParam({ name: 'id', description: 'Subscription id' })
  @ApiOkResponse({ type: SubscriptionView })
  @ApiErrorResponses(404)
  get(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<SubscriptionView> {
    return this.subscriptions.get(caller, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change a subscription', description: 'Any field of create but `organization_id` (400), at least one.' })
  @ApiParam({ name: 'id', description: 'Subscription id' })
  @ApiOkResponse({ type: SubscriptionView })
  @ApiErrorResponses(403, 404)
  update(@Param('id') id: string, @Body() body: UpdateSubscriptionDto, @Caller() caller: VerifiedCaller): Promise<SubscriptionView> {
    return this.subscriptions.update(caller, id, assertChanges(body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a subscription with its deliveries' })
  @ApiParam({ name: 'id', description: 'Subscription id' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrorResponses(404)
  async remove(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<void> {
    await this.subscriptions.remove(caller, id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rotate the secret', description: 'The previous secret keeps signing for WEBHOOKS_ROTATION_OVERLAP_HOURS.' })
  @ApiParam({ name: 'id', description: 'Subscription id' })
  @ApiBody({ type: RotateSecretDto, required: false })
  @ApiOkResponse({ type: SubscriptionWithSecretView })
  @ApiErrorResponses(404)
  rotateSecret(@Param('id') id: string, @Body() body: RotateSecretDto, @Caller() caller: VerifiedCaller): Promise<SubscriptionWithSecretView> {
    return this.subscriptions.rotateSecret(caller, id, body);
  }

  @Post(':id/test')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send a TEST.WEBHOOK delivery now', description: 'Stores nothing; answers 200 whatever the receiver said (`success` tells).' })
  @ApiParam({ name: 'id', description: 'Subscription id' })
  @ApiBody({ type: TestDeliveryDto, required: false })
  @ApiOkResponse({ type: TestDeliveryView })
  @ApiErrorResponses(404)
  test(@Param('id') id: string, @Body() _body: TestDeliveryDto, @Req() request: FastifyRequest, @Caller() caller: VerifiedCaller): Promise<TestDeliveryView> {
    // The payload as parsed from the request, not class-transformer's copy of it: it is sent as is.
    return this.subscriptions.test(caller, id, (request.body as Partial<TestDeliveryDto> | undefined)?.payload);
  }
}

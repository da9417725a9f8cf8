import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBody, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { NoBody } from '../common/no-body.pipe';
import { DomainError, ErrorCode } from '../common/domain-error';
import { CYBERAPP_AUTH_SCHEME } from '../openapi';
import { WebhookDeliveriesService } from '../webhooks/webhook-deliveries.service';
import { DeliveryPage, DeliveryView } from '../webhooks/webhooks.views';
import { WebhookKind } from '../webhooks/webhook-subscription.entity';
import { ListDeliveriesQueryDto, RotateSecretDto } from '../webhooks/webhooks.dto';
import { HookDecisionsService } from './hook-decisions.service';
import { HOOK_NOT_FOUND, HookEndpointsService } from './hook-endpoints.service';
import { assertHookChanges, CreateHookDto, ListDecisionsQueryDto, ListHooksQueryDto, UpdateHookDto } from './hooks.dto';
import { DecisionPage, DecisionView, HookPage, HookView, HookWithSecretView } from './hooks.views';

const DELIVERY_NOT_FOUND = 'Hook delivery not found.';

/** The delivery core's 404s speak of webhook subscriptions and deliveries; this API's of hooks. */
function hookNotFound<T>(answer: Promise<T>, message: string): Promise<T> {
  return answer.catch((error: unknown) => {
    throw error instanceof DomainError && error.code === ErrorCode.NotFound ? new DomainError(ErrorCode.NotFound, message) : error;
  });
}

/**
 * Approval hooks (issue 7) under `/api/hooks`, with the webhooks API's credentials
 * (`X-CyberApp-Auth`), scope and errors: a caller manages the hooks of its organization and of
 * every organization below it; another organization's hook id answers 404, a foreign
 * `organization_id` 403. A hook registered by an organization is called for the operations on
 * that organization and on its whole subtree.
 *
 * Decisions:
 * - `phase` defaults to `both`, `failure_policy` to `fail-closed`, `timeout_ms` to
 *   HOOKS_DEFAULT_TIMEOUT_MS (100 ms to 30 s). URLs follow the webhooks' rules (http(s), https
 *   unless `ssl_verification` is false, public addresses unless WEBHOOKS_ALLOWED_PRIVATE lists them),
 *   checked when saved and again on every call.
 * - Secrets: generated `whsec_…` unless given, answered only by create and rotate-secret.
 * - Hook changes run no hooks and record no events (a hook could otherwise veto its own removal).
 * - Post-hook deliveries are listed per hook (`/api/hooks/:id/deliveries`) and redelivered like
 *   webhook deliveries; they are not part of `/api/webhooks/deliveries`.
 */
@ApiTags('hooks')
@ApiSecurity(CYBERAPP_AUTH_SCHEME)
@ApiErrorResponses(400, 401, 429)
@Controller('api/hooks')
@UseGuards(CyberAppAuthGuard)
export class HooksController {
  constructor(
    private readonly hooks: HookEndpointsService,
    private readonly decisions: HookDecisionsService,
    private readonly deliveries: WebhookDeliveriesService,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Register a hook endpoint' })
  @ApiCreatedResponse({ type: HookWithSecretView, description: 'Created; the only answer besides rotate-secret that shows `secret`.' })
  @ApiErrorResponses(403)
  create(@Body() body: CreateHookDto, @Caller() caller: VerifiedCaller): Promise<HookWithSecretView> {
    return this.hooks.create(caller, body);
  }

  @Get()
  @ApiOperation({ summary: 'List visible hook endpoints, newest first' })
  @ApiOkResponse({ type: HookPage })
  @ApiErrorResponses(403)
  list(@Query() query: ListHooksQueryDto, @Caller() caller: VerifiedCaller): Promise<HookPage> {
    return this.hooks.list(caller, query);
  }

  @Get('decisions')
  @ApiOperation({ summary: "The pre-hook decisions of the caller's hooks, newest first" })
  @ApiOkResponse({ type: DecisionPage })
  @ApiErrorResponses(403)
  listDecisions(@Query() query: ListDecisionsQueryDto, @Caller() caller: VerifiedCaller): Promise<DecisionPage> {
    return this.decisions.list(caller, query);
  }

  @Get('decisions/:decisionId')
  @ApiOperation({ summary: "One pre-hook decision of the caller's hooks" })
  @ApiParam({ name: 'decisionId' })
  @ApiOkResponse({ type: DecisionView })
  @ApiErrorResponses(404)
  getDecision(@Param('decisionId') id: string, @Caller() caller: VerifiedCaller): Promise<DecisionView> {
    return this.decisions.get(caller, id);
  }

  @Get('deliveries/:deliveryId')
  @ApiOperation({ summary: 'A post-hook delivery with its attempts' })
  @ApiParam({ name: 'deliveryId' })
  @ApiOkResponse({ type: DeliveryView })
  @ApiErrorResponses(404)
  getDelivery(@Param('deliveryId') id: string, @Caller() caller: VerifiedCaller): Promise<DeliveryView> {
    return hookNotFound(this.deliveries.get(caller, id, WebhookKind.Hook), DELIVERY_NOT_FOUND);
  }

  @Post('deliveries/:deliveryId/redeliver')
  @HttpCode(201)
  @ApiOperation({ summary: 'A new delivery of the same post-hook (same webhook-id, same bytes)' })
  @ApiParam({ name: 'deliveryId' })
  @ApiCreatedResponse({ type: DeliveryView, description: 'The new delivery, pending and due now.' })
  @ApiErrorResponses(404, 409)
  redeliver(@Param('deliveryId') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<DeliveryView> {
    return hookNotFound(this.deliveries.redeliver(caller, id, WebhookKind.Hook), DELIVERY_NOT_FOUND);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Read a hook endpoint' })
  @ApiParam({ name: 'id' })
  @ApiOkResponse({ type: HookView })
  @ApiErrorResponses(404)
  get(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<HookView> {
    return this.hooks.get(caller, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change a hook endpoint', description: 'Any field of create but `organization_id` (400), at least one.' })
  @ApiParam({ name: 'id' })
  @ApiOkResponse({ type: HookView })
  @ApiErrorResponses(404)
  update(@Param('id') id: string, @Body() body: UpdateHookDto, @Caller() caller: VerifiedCaller): Promise<HookView> {
    return this.hooks.update(caller, id, assertHookChanges(body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a hook endpoint with its post-hook deliveries (its decisions stay)' })
  @ApiParam({ name: 'id' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrorResponses(404)
  async remove(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<void> {
    await this.hooks.remove(caller, id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rotate the secret', description: 'The previous secret keeps signing for WEBHOOKS_ROTATION_OVERLAP_HOURS.' })
  @ApiParam({ name: 'id' })
  @ApiBody({ type: RotateSecretDto, required: false })
  @ApiOkResponse({ type: HookWithSecretView })
  @ApiErrorResponses(404)
  rotateSecret(@Param('id') id: string, @Body() body: RotateSecretDto, @Caller() caller: VerifiedCaller): Promise<HookWithSecretView> {
    return this.hooks.rotateSecret(caller, id, body.secret);
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: "The hook's post-hook deliveries with their attempts, newest first" })
  @ApiParam({ name: 'id' })
  @ApiOkResponse({ type: DeliveryPage })
  @ApiErrorResponses(404)
  listDeliveries(@Param('id') id: string, @Query() query: ListDeliveriesQueryDto, @Caller() caller: VerifiedCaller): Promise<DeliveryPage> {
    return hookNotFound(this.deliveries.list(caller, Object.assign(query, { subscription_id: id }), WebhookKind.Hook), HOOK_NOT_FOUND);
  }
}

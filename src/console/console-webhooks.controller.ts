import { Body, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DomainError, ErrorCode } from '../common/domain-error';
import { validateApiBody, validateDto } from '../common/validate-dto';
import { REDELIVER_FAILED_MAX, WebhookDeliveriesService } from '../webhooks/webhook-deliveries.service';
import { WebhookSubscriptionsService } from '../webhooks/webhook-subscriptions.service';
import { CreateSubscriptionDto, ListDeliveriesQueryDto, ListSubscriptionsQueryDto, parseUpdate } from '../webhooks/webhooks.dto';
import { ConsoleAssets } from './console-assets.service';
import { ConsolePages } from './console-auth.guard';
import { chosenFilter, ConsoleRequest, field, queryText, redirect, sendPage } from './console-http';
import { viewerOf } from './console-viewer';
import { url } from './html';
import { count, parseInstant } from './views/format';
import { deadLettersPage, deliveryPage } from './views/deliveries';
import { CreateForm, DELIVERY_FILTERS, DeliveryFilter, EMPTY_CREATE_FORM, replayConfirmPage, secretPage, subscriptionPage, webhooksPage } from './views/webhooks';
import { EditForm, editFormOf, editPage, testPage } from './views/webhook-forms';
import { eventPage } from './views/events';
import type { SubscriptionView } from '../webhooks/webhooks.views';
import type { VerifiedCaller } from '../auth/credential-cache.service';

const PAGE_SIZE = 50;
const SUBSCRIPTIONS_PAGE_SIZE = 100;
/** Failed deliveries counted before a replay-since, at most (the page then says "more than"). */
const REPLAY_COUNT_CAP = 100_000;

/** Confirmations after a form, by the key in the URL it redirects to (never text from the request). */
const NOTICES: Record<string, (n: number) => string> = {
  enabled: () => 'The subscription is enabled.',
  disabled: () => 'The subscription is disabled: nothing is delivered to it until it is enabled again.',
  replayed: () => 'Replay queued: this is the new delivery, sent as soon as the worker picks it up.',
  saved: () => 'The subscription is saved.',
  unchanged: () => 'Nothing was changed.',
  'replayed-many': (n) => `${count(n, 'failed delivery', 'failed deliveries')} queued for replay.`,
  'replayed-more': (n) => `${count(n, 'failed delivery', 'failed deliveries')} queued for replay; more are left: count them again to replay the rest.`,
};

function noticeOf(query: Record<string, unknown>): { kind: 'ok'; text: string } | null {
  const key = queryText(query.notice);
  const make = key !== undefined && Object.prototype.hasOwnProperty.call(NOTICES, key) ? NOTICES[key] : undefined;
  if (!make) return null;
  const n = Number(queryText(query.count));
  return { kind: 'ok', text: make(Number.isSafeInteger(n) && n >= 0 ? n : 0) };
}

/** The delivery list's query for a filter of the page. */
function filterQuery(filter: DeliveryFilter): Record<string, string> {
  if (filter === 'all') return {};
  if (filter === 'dead-letters') return { success: 'false', replayed: 'false' };
  return { state: filter };
}

/** The fields both forms have, as typed; a checkbox as a boolean. */
function editForm(body: unknown): EditForm {
  const text = (name: string): string => field(body, name) ?? '';
  return { name: text('name'), payload_url: text('payload_url'), description: text('description'), scope: text('scope'), ssl_verification: field(body, 'ssl_verification') === 'on' };
}

/** The create form's fields as the API's body: text fields, checkboxes as booleans, empty optional ones left out. */
function createBody(body: unknown): { form: CreateForm; dto: Record<string, unknown> } {
  const form: CreateForm = { ...editForm(body), organization_id: (field(body, 'organization_id') ?? '').trim(), enabled: field(body, 'enabled') === 'on' };
  const dto: Record<string, unknown> = { name: form.name, payload_url: form.payload_url, scope: form.scope, ssl_verification: form.ssl_verification, enabled: form.enabled };
  if (form.description !== '') dto.description = form.description;
  if (form.organization_id !== '') dto.organization_id = form.organization_id;
  const secret = field(body, 'secret') ?? '';
  if (secret !== '') dto.secret = secret;
  return { form, dto };
}

/**
 * The edit form's fields as the API's PATCH body: only those that differ from the subscription
 * (an empty description clears it), plus any `organization_id` sent, which the API refuses.
 */
function editBody(body: unknown, current: SubscriptionView): { form: EditForm; dto: Record<string, unknown> } {
  const form = editForm(body);
  const dto: Record<string, unknown> = {};
  if (form.name !== current.name) dto.name = form.name;
  if (form.payload_url !== current.payload_url) dto.payload_url = form.payload_url;
  if (form.description !== (current.description ?? '')) dto.description = form.description === '' ? null : form.description;
  if (form.scope !== String(current.scope)) dto.scope = form.scope;
  if (form.ssl_verification !== current.ssl_verification) dto.ssl_verification = form.ssl_verification;
  const owner = field(body, 'organization_id');
  if (owner !== undefined) dto.organization_id = owner;
  return { form, dto };
}

/**
 * The console's webhook pages. Everything goes through the services of the webhooks API
 * (WebhookSubscriptionsService, WebhookDeliveriesService) with the signed-in user as the caller:
 * the same organization scoping (another organization's ids are 404, a foreign owner 403), the
 * same validation, the same approval hooks.
 */
@ConsolePages()
export class ConsoleWebhooksController {
  constructor(
    private readonly assets: ConsoleAssets,
    private readonly subscriptions: WebhookSubscriptionsService,
    private readonly deliveries: WebhookDeliveriesService,
  ) {}

  @Get('webhooks')
  async list(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Query() query: Record<string, unknown>): Promise<void> {
    await this.showList(request, reply, 200, queryText(query.before), EMPTY_CREATE_FORM, null, noticeOf(query));
  }

  @Post('webhooks')
  async create(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Body() body: unknown): Promise<void> {
    const { form, dto } = createBody(body);
    try {
      const created = await this.subscriptions.create(viewerOf(request).caller, await validateApiBody(CreateSubscriptionDto, dto));
      sendPage(reply, 201, secretPage(this.assets.urls, viewerOf(request), created, created.secret, true));
    } catch (error) {
      // Shown with the form filled in as it was sent (not the secret).
      if (!(error instanceof DomainError) || (error.code !== ErrorCode.ValidationFailed && error.code !== ErrorCode.Forbidden)) throw error;
      await this.showList(request, reply, error.status, undefined, form, error.message, null);
    }
  }

  @Get('webhooks/:id')
  async subscription(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const subscription = await this.subscriptions.get(viewer.caller, id);
    const filter = chosenFilter(DELIVERY_FILTERS, queryText(query.state) ?? 'all');
    const before = queryText(query.before);
    const deliveries = await this.deliveries.page(
      viewer.caller,
      await validateDto(ListDeliveriesQueryDto, { subscription_id: subscription.id, before, limit: String(PAGE_SIZE), ...filterQuery(filter) }, 'query'),
    );
    const since = new Date(Date.now() - 24 * 3_600_000).toISOString().slice(0, 19);
    sendPage(reply, 200, subscriptionPage(this.assets.urls, viewer, { subscription, deliveries, filter, before, defaultSince: since, notice: noticeOf(query), at: new Date().toISOString() }));
  }

  @Post('webhooks/:id/enabled')
  async setEnabled(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string, @Body() body: unknown): Promise<void> {
    const value = field(body, 'enabled');
    if (value !== 'true' && value !== 'false') throw new DomainError(ErrorCode.ValidationFailed, 'enabled must be true or false.');
    const updated = await this.subscriptions.update(viewerOf(request).caller, id, await parseUpdate({ enabled: value === 'true' }));
    redirect(reply, url('webhooks', updated.id, { notice: updated.enabled ? 'enabled' : 'disabled' }));
  }

  @Post('webhooks/:id/rotate-secret')
  async rotateSecret(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const rotated = await this.subscriptions.rotateSecret(viewerOf(request).caller, id, {});
    sendPage(reply, 200, secretPage(this.assets.urls, viewerOf(request), rotated, rotated.secret, false));
  }

  /** Counts the dead letters since the time given, up to now, and asks to confirm. */
  @Get('webhooks/:id/replay-failed')
  async confirmReplay(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const subscription = await this.subscriptions.get(viewer.caller, id);
    const since = parseInstant(queryText(query.since));
    if (since === null) throw new DomainError(ErrorCode.ValidationFailed, 'Give the start as a date and time (UTC).');
    const until = new Date().toISOString();
    if (since > until) throw new DomainError(ErrorCode.ValidationFailed, 'The start is in the future.');
    const { count, capped } = await this.deliveries.countDeadLetters(viewer.caller, subscription.id, { since, until }, REPLAY_COUNT_CAP);
    sendPage(reply, 200, replayConfirmPage(this.assets.urls, viewer, { subscription, since, until, count, capped, max: REDELIVER_FAILED_MAX }));
  }

  /** Replays the dead letters of the range that was counted (its end fixed then: later failures are not included). */
  @Post('webhooks/:id/replay-failed')
  async replayFailed(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string, @Body() body: unknown): Promise<void> {
    const since = parseInstant(field(body, 'since'));
    const until = parseInstant(field(body, 'until'));
    if (since === null || until === null) throw new DomainError(ErrorCode.ValidationFailed, 'The form lacks its time range; count the failed deliveries again.');
    const { redelivered, more } = await this.deliveries.redeliverFailed(viewerOf(request).caller, id, { since, until });
    redirect(reply, url('webhooks', id, { notice: more ? 'replayed-more' : 'replayed-many', count: String(redelivered) }));
  }

  @Get('deliveries/:id')
  async delivery(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const delivery = await this.deliveries.get(viewer.caller, id);
    const subscription = await this.subscriptions.get(viewer.caller, delivery.subscription_id);
    sendPage(reply, 200, deliveryPage(this.assets.urls, viewer, { delivery, subscription, notice: noticeOf(query), at: new Date().toISOString() }));
  }

  @Post('deliveries/:id/replay')
  async replay(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const copy = await this.deliveries.redeliver(viewerOf(request).caller, id);
    redirect(reply, url('deliveries', copy.id, { notice: 'replayed' }));
  }

  @Get('dead-letters')
  async deadLetters(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const before = queryText(query.before);
    const result = await this.deliveries.page(
      viewer.caller,
      await validateDto(ListDeliveriesQueryDto, { success: 'false', replayed: 'false', before, limit: String(PAGE_SIZE) }, 'query'),
    );
    const subscriptions = await this.subscriptionNames(viewer.caller, result.items);
    sendPage(reply, 200, deadLettersPage(this.assets.urls, viewer, { result, subscriptions, before, at: new Date().toISOString(), notice: noticeOf(query) }));
  }

  /** The names of the deliveries' subscriptions, by id. */
  private async subscriptionNames(caller: VerifiedCaller, deliveries: Array<{ subscription_id: string }>): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    for (const id of new Set(deliveries.map((d) => d.subscription_id))) names.set(id, (await this.subscriptions.get(caller, id)).name);
    return names;
  }

  /** The subscriptions newest first, by key: `before` is the last id of the previous page. */
  private async showList(request: ConsoleRequest, reply: FastifyReply, status: number, before: string | undefined, form: CreateForm, error: string | null, notice: { kind: 'ok'; text: string } | null): Promise<void> {
    const viewer = viewerOf(request);
    const result = await this.subscriptions.page(viewer.caller, await validateDto(ListSubscriptionsQueryDto, { before, limit: String(SUBSCRIPTIONS_PAGE_SIZE) }, 'query'));
    sendPage(reply, status, webhooksPage(this.assets.urls, viewer, { result, before, form, error, notice, at: new Date().toISOString() }));
  }

  @Get('webhooks/:id/edit')
  async editForm(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const viewer = viewerOf(request);
    const subscription = await this.subscriptions.get(viewer.caller, id);
    sendPage(reply, 200, editPage(this.assets.urls, viewer, { subscription, form: editFormOf(subscription), error: null }));
  }

  /**
   * Saves the fields that changed through the API's service and validation (parseUpdate, then
   * WebhookSubscriptionsService.update): a refused change shows the form again with the message,
   * and nothing is stored. A field the form does not have (`organization_id`) goes to the same
   * validation, which refuses it.
   */
  @Post('webhooks/:id/edit')
  async edit(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string, @Body() body: unknown): Promise<void> {
    const viewer = viewerOf(request);
    const current = await this.subscriptions.get(viewer.caller, id);
    const { form, dto } = editBody(body, current);
    if (Object.keys(dto).length === 0) {
      redirect(reply, url('webhooks', current.id, { notice: 'unchanged' }));
      return;
    }
    try {
      const updated = await this.subscriptions.update(viewer.caller, current.id, await parseUpdate(dto));
      redirect(reply, url('webhooks', updated.id, { notice: 'saved' }));
    } catch (error) {
      if (!(error instanceof DomainError) || (error.code !== ErrorCode.ValidationFailed && error.code !== ErrorCode.Forbidden && error.code !== ErrorCode.Conflict)) throw error;
      sendPage(reply, error.status, editPage(this.assets.urls, viewer, { subscription: current, form, error: error.message }));
    }
  }

  @Get('webhooks/:id/test')
  async testForm(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const viewer = viewerOf(request);
    sendPage(reply, 200, testPage(this.assets.urls, viewer, { subscription: await this.subscriptions.get(viewer.caller, id), result: null }));
  }

  /** Sends a TEST.WEBHOOK event now with the worker's sender and signer (WebhookSubscriptionsService.test) and shows the answer. */
  @Post('webhooks/:id/test')
  async test(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const viewer = viewerOf(request);
    const subscription = await this.subscriptions.get(viewer.caller, id);
    const result = await this.subscriptions.test(viewer.caller, subscription.id, undefined);
    sendPage(reply, 200, testPage(this.assets.urls, viewer, { subscription, result }));
  }

  /** Every visible delivery of one event (to each subscription, replays included), each with its attempts. */
  @Get('events/:eventId')
  async event(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('eventId') eventId: string, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const before = queryText(query.before);
    const result = await this.deliveries.page(viewer.caller, await validateDto(ListDeliveriesQueryDto, { event_id: eventId, before, limit: String(PAGE_SIZE) }, 'query'));
    // An event none of whose deliveries the caller can see is as unknown as a missing one.
    if (result.items.length === 0 && before === undefined) throw new DomainError(ErrorCode.NotFound, 'Event not found.');
    const names = await this.subscriptionNames(viewer.caller, result.items);
    sendPage(reply, 200, eventPage(this.assets.urls, viewer, { eventId, result, subscriptions: names, before, at: new Date().toISOString() }));
  }
}

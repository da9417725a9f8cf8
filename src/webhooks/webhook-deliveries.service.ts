import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, In, SelectQueryBuilder, WhereExpressionBuilder } from 'typeorm';
import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditService } from '../audit/audit.service';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { TransactionRunner } from '../database/transaction-runner.service';
import { DeliverySignal } from './delivery-signal.service';
import { WebhookDeliveryAttempt } from './webhook-delivery-attempt.entity';
import { DeliveryState, pendingDelivery, WebhookDelivery } from './webhook-delivery.entity';
import { inSubtree, isVisibleOrganization, olderThanCursor } from '../organizations/organization-tree';
import { WebhookKind, WebhookSubscription } from './webhook-subscription.entity';
import { assertOnePaging, lockFor, WebhookSubscriptionsService } from './webhook-subscriptions.service';
import { DELIVERIES_LIMIT_DEFAULT, DeleteDeliveriesQueryDto, ListDeliveriesQueryDto, timeRangeOf } from './webhooks.dto';
import { isLookupId, newRowId } from '../common/ids';
import { CappedCount, countUpTo } from '../common/state-counts';
import { AttemptView, DeliveryPage, DeliveryView } from './webhooks.views';

const DELIVERY_NOT_FOUND = 'Webhook delivery not found.';

/** The overview's figures for the visible subscriptions, each counted up to a ceiling. */
export interface DeliveryDepths {
  pending: CappedCount;
  delivering: CappedCount;
  /** Failed deliveries not redelivered yet. */
  deadLetters: CappedCount;
  /** Deliveries created since the time given, and how those ended so far. */
  created: CappedCount;
  succeeded: CappedCount;
  failed: CappedCount;
}

/** Failed deliveries redelivered at once by {@link WebhookDeliveriesService.redeliverFailed}, at most. */
export const REDELIVER_FAILED_MAX = 1000;

/** A delivery no redelivery was made of (`d` is the delivery; the partial index of redeliveries finds its copies). */
const NOT_REPLAYED_SQL = 'NOT EXISTS (SELECT 1 FROM webhook_deliveries r WHERE r.redelivery_of = d.id)';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function attemptView(a: WebhookDeliveryAttempt): AttemptView {
  return {
    attempt: a.attempt,
    started_at: a.startedAt.toISOString(),
    duration_ms: a.durationMs,
    status_code: a.statusCode,
    response_body: a.responseBody,
    error_class: a.errorClass,
    error: a.error,
    success: a.success,
    request: a.requestUrl !== null && a.requestHeaders !== null ? { method: 'POST', url: a.requestUrl, headers: a.requestHeaders } : null,
  };
}

function deliveryView(d: WebhookDelivery, attempts: WebhookDeliveryAttempt[]): DeliveryView {
  return {
    id: d.id,
    subscription_id: d.subscriptionId,
    event_id: d.eventId,
    event_type: d.eventType,
    organization_id: d.organizationId,
    payload: d.payload,
    state: d.state,
    attempt_count: d.attempts,
    next_attempt_at: d.nextAttemptAt.toISOString(),
    last_status: d.lastStatus,
    last_error: d.lastError,
    redelivery_of: d.redeliveryOf,
    created_at: d.createdAt.toISOString(),
    updated_at: d.updatedAt.toISOString(),
    completed_at: iso(d.completedAt),
    attempts: attempts.map(attemptView),
  };
}

type DeliveryFilters = Pick<ListDeliveriesQueryDto, 'event_type' | 'since' | 'until' | 'success' | 'state'>;

/** A new delivery of the same event (same id, type, organization and payload bytes) to the same subscription, due now. */
function copyOf(original: WebhookDelivery, now: Date): WebhookDelivery {
  const { subscriptionId, eventId, eventType, organizationId, payload } = original;
  return pendingDelivery({ id: newRowId(), subscriptionId, eventId, eventType, organizationId, payload, redeliveryOf: original.id }, now);
}

/** The filters that listing and bulk deletion share; `column` qualifies a column name for the query at hand. */
function applyFilters<T extends WhereExpressionBuilder>(qb: T, query: DeliveryFilters, column: (name: string) => string): T {
  const { since, until } = timeRangeOf(query);
  if (query.event_type !== undefined) qb.andWhere(`${column('event_type')} = :eventType`, { eventType: query.event_type });
  if (since) qb.andWhere(`${column('created_at')} >= :since`, { since });
  if (until) qb.andWhere(`${column('created_at')} < :until`, { until });
  if (query.success !== undefined) {
    qb.andWhere(`${column('state')} = :outcome`, { outcome: query.success ? DeliveryState.Succeeded : DeliveryState.Failed });
  }
  if (query.state !== undefined) qb.andWhere(`${column('state')} = :state`, { state: query.state });
  return qb;
}

/**
 * Deliveries of the subscriptions the caller can see (its organization's and its subtree's):
 * listing with their attempts, deletion, and redelivery. `kind` keeps the webhooks API and the
 * hooks API (post-hook deliveries, src/hooks) to their own subscriptions.
 */
@Injectable()
export class WebhookDeliveriesService {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly subscriptions: WebhookSubscriptionsService,
    private readonly signal: DeliverySignal,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  /**
   * Newest first (`created_at`, then `id`), with the filters of the query; `before` (a visible
   * delivery's id, else 400) pages by key: the deliveries after it in that order.
   */
  async list(caller: VerifiedCaller, query: ListDeliveriesQueryDto, kind = WebhookKind.Webhook): Promise<DeliveryPage> {
    const em = this.dataSource.manager;
    const [rows, total] = await (await this.listQuery(em, caller, query, kind))
      .limit(query.limit ?? DELIVERIES_LIMIT_DEFAULT)
      .offset(query.offset ?? 0)
      .getManyAndCount();
    const attempts = await this.attemptsOf(em, rows.map((r) => r.id));
    return { items: rows.map((r) => deliveryView(r, attempts.get(r.id) ?? [])), total };
  }

  /**
   * One page of {@link list} without its total (the console): the rows and whether older ones
   * follow, read by key alone, so that a page costs the same at any depth of a large history.
   */
  async page(caller: VerifiedCaller, query: ListDeliveriesQueryDto, kind = WebhookKind.Webhook): Promise<{ items: DeliveryView[]; more: boolean }> {
    const em = this.dataSource.manager;
    const limit = query.limit ?? DELIVERIES_LIMIT_DEFAULT;
    const rows = await (await this.listQuery(em, caller, { ...query, offset: undefined }, kind)).limit(limit + 1).getMany();
    const items = rows.slice(0, limit);
    const attempts = await this.attemptsOf(em, items.map((r) => r.id));
    return { items: items.map((r) => deliveryView(r, attempts.get(r.id) ?? [])), more: rows.length > limit };
  }

  /** Failed deliveries of a subscription not redelivered yet, created within the range, counted up to `cap`. */
  async countDeadLetters(caller: VerifiedCaller, subscriptionId: string, range: { since?: string; until?: string }, cap: number, kind = WebhookKind.Webhook): Promise<CappedCount> {
    const query = Object.assign(new ListDeliveriesQueryDto(), { subscription_id: subscriptionId, success: false, replayed: false, ...range });
    return countUpTo(await this.listQuery(this.dataSource.manager, caller, query, kind), cap);
  }

  /** The visible deliveries that match a list query, newest first (the key `before` applied). */
  private async listQuery(em: EntityManager, caller: VerifiedCaller, query: ListDeliveriesQueryDto, kind: WebhookKind): Promise<SelectQueryBuilder<WebhookDelivery>> {
    assertOnePaging(query);
    const qb = await this.visible(em, caller, query.subscription_id, kind, query.state !== undefined || query.success !== undefined);
    applyFilters(qb, query, (name) => `d.${name}`);
    if (query.event_id !== undefined) qb.andWhere('d.event_id = :eventId', { eventId: query.event_id });
    if (query.replayed !== undefined) qb.andWhere(query.replayed ? `NOT ${NOT_REPLAYED_SQL}` : NOT_REPLAYED_SQL);
    if (query.before !== undefined) {
      await olderThanCursor(qb, caller, query.before, {
        timeColumn: 'created_at',
        owner: 'subscriptionId',
        visible: (subscriptionId: string) => this.isVisibleSubscription(em, caller, subscriptionId, kind),
        refusal: 'Invalid request: query.before must be the id of a delivery you can see.',
      });
    }
    return qb.orderBy('d.created_at', 'DESC').addOrderBy('d.id', 'DESC');
  }

  /**
   * Queue depths and recent throughput of the visible subscriptions for the console's overview,
   * each counted up to `cap` so that the cost stays bounded with millions of deliveries stored:
   * waiting and being-sent rows come from their partial indexes, dead letters from the failed
   * one, and the deliveries created since `since` from the subscription/time index.
   */
  async depths(caller: VerifiedCaller, since: Date, cap: number, kind = WebhookKind.Webhook): Promise<DeliveryDepths> {
    const em = this.dataSource.manager;
    const inState = async (state: DeliveryState) => (await this.visible(em, caller, undefined, kind, true)).andWhere('d.state = :state', { state });
    const recent = async () => (await this.visible(em, caller, undefined, kind)).andWhere('d.created_at >= :since', { since });
    return {
      pending: await countUpTo(await inState(DeliveryState.Pending), cap),
      delivering: await countUpTo(await inState(DeliveryState.Delivering), cap),
      deadLetters: await countUpTo((await inState(DeliveryState.Failed)).andWhere(NOT_REPLAYED_SQL), cap),
      created: await countUpTo(await recent(), cap),
      succeeded: await countUpTo((await recent()).andWhere('d.state = :state', { state: DeliveryState.Succeeded }), cap),
      failed: await countUpTo((await recent()).andWhere('d.state = :state', { state: DeliveryState.Failed }), cap),
    };
  }

  async get(caller: VerifiedCaller, id: string, kind = WebhookKind.Webhook): Promise<DeliveryView> {
    const em = this.dataSource.manager;
    let delivery = await this.findVisible(em, caller, id, false, kind);
    const attempts = (await this.attemptsOf(em, [delivery.id])).get(delivery.id) ?? [];
    // Read after the delivery: an attempt that ended in between (its outcome and its row commit
    // together) is shown with the state it left, not the one before it.
    if (delivery.state === DeliveryState.Delivering && attempts.length >= delivery.attempts) delivery = await this.findVisible(em, caller, id, false, kind);
    return deliveryView(delivery, attempts);
  }

  /** Deletes one delivery and its attempts; one being sent right now answers 409. */
  async remove(caller: VerifiedCaller, id: string): Promise<void> {
    await this.transactions.run(async (em) => {
      const delivery = await this.findVisible(em, caller, id, true);
      if (delivery.state !== DeliveryState.Delivering) {
        // Conditional, so that a claim taken since the read above wins over the deletion.
        const result = await em
          .createQueryBuilder()
          .delete()
          .from(WebhookDelivery)
          .where('id = :id AND state <> :delivering', { id, delivering: DeliveryState.Delivering })
          .execute();
        if ((result.affected ?? 0) > 0) return;
      }
      throw new DomainError(ErrorCode.Conflict, 'The delivery is being sent right now; delete it once the attempt is over.');
    });
  }

  /** Deletes the subscription's deliveries that match the filters, except those being sent right now. */
  async removeMany(caller: VerifiedCaller, query: DeleteDeliveriesQueryDto): Promise<{ deleted: number }> {
    timeRangeOf(query); // a bad range is a 400 before anything is touched
    return this.transactions.run(async (em) => {
      const subscription = await this.subscriptions.findVisible(em, caller, query.subscription_id);
      const qb = em
        .createQueryBuilder()
        .delete()
        .from(WebhookDelivery)
        .where('subscription_id = :subscriptionId AND state <> :delivering', { subscriptionId: subscription.id, delivering: DeliveryState.Delivering });
      applyFilters(qb, query, (name) => name);
      const result = await qb.execute();
      return { deleted: result.affected ?? 0 };
    });
  }

  /** Records a copy of the delivery ({@link copyOf}) and wakes the worker once it is committed; a disabled subscription answers 409. */
  async redeliver(caller: VerifiedCaller, id: string, kind = WebhookKind.Webhook): Promise<DeliveryView> {
    const row = await this.transactions.run(async (em) => {
      const original = await this.findVisible(em, caller, id, false, kind);
      const subscription = await this.enabledSubscription(em, caller, original.subscriptionId, kind);
      const copy = copyOf(original, new Date());
      await em.insert(WebhookDelivery, { ...copy });
      await this.recordReplays(em, caller, subscription, [copy]);
      return copy;
    });
    this.signal.deliveriesCommitted();
    return deliveryView(row, []);
  }

  /**
   * Redelivers, as {@link redeliver} does each, the subscription's dead letters (failed, not
   * redelivered yet) created within the range (`since` inclusive, `until` exclusive), oldest
   * first, at most REDELIVER_FAILED_MAX of them in one transaction; `more` says whether others
   * are left. A disabled subscription answers 409.
   */
  async redeliverFailed(caller: VerifiedCaller, subscriptionId: string, range: { since?: string; until?: string }, kind = WebhookKind.Webhook): Promise<{ redelivered: number; more: boolean }> {
    const { since, until } = timeRangeOf(range);
    const result = await this.transactions.run(async (em) => {
      const subscription = await this.enabledSubscription(em, caller, subscriptionId, kind);
      const qb = em
        .createQueryBuilder(WebhookDelivery, 'd')
        .where(`d.subscription_id = :subscriptionId AND d.state = '${DeliveryState.Failed}'`, { subscriptionId: subscription.id })
        .andWhere(NOT_REPLAYED_SQL);
      if (since) qb.andWhere('d.created_at >= :since', { since });
      if (until) qb.andWhere('d.created_at < :until', { until });
      const originals = await qb.orderBy('d.created_at', 'ASC').addOrderBy('d.id', 'ASC').limit(REDELIVER_FAILED_MAX + 1).getMany();
      const now = new Date();
      const copies = originals.slice(0, REDELIVER_FAILED_MAX).map((original) => copyOf(original, now));
      for (let i = 0; i < copies.length; i += 100) await em.insert(WebhookDelivery, copies.slice(i, i + 100).map((c) => ({ ...c })));
      await this.recordReplays(em, caller, subscription, copies);
      return { redelivered: copies.length, more: originals.length > REDELIVER_FAILED_MAX };
    });
    if (result.redelivered > 0) this.signal.deliveriesCommitted();
    return result;
  }

  /** The audit records of replays (src/audit): each caused by the record of the delivery it copies (whose id is that delivery's). */
  private recordReplays(em: EntityManager, caller: VerifiedCaller, subscription: WebhookSubscription, copies: WebhookDelivery[]): Promise<void> {
    return this.audit.record(
      em,
      copies.map((c) => ({
        id: c.id,
        at: c.createdAt,
        kind: AuditKind.Delivery,
        name: c.eventType,
        outcome: AuditOutcome.Ok,
        code: c.state,
        organizationId: subscription.organizationId,
        actor: caller.login,
        eventId: c.eventId,
        deliveryId: c.id,
        causeId: c.redeliveryOf,
        detail: { subscription_id: c.subscriptionId, replay_of: c.redeliveryOf },
      })),
    );
  }

  /** The visible subscription, locked, or 409 when it is disabled: a delivery to it would never go out. */
  private async enabledSubscription(em: EntityManager, caller: VerifiedCaller, id: string, kind: WebhookKind): Promise<WebhookSubscription> {
    const subscription = await this.subscriptions.findVisible(em, caller, id, true, kind);
    if (!subscription.enabled) {
      throw new DomainError(ErrorCode.Conflict, 'The subscription is disabled: enable it before redelivering.');
    }
    return subscription;
  }

  /**
   * The deliveries (`d`) of the subscriptions the caller can see (of one of them, when `subscriptionId` is
   * given: 404 unless visible); `byState`: the query goes on to match a state, so that its partial index can lead.
   */
  private async visible(em: EntityManager, caller: VerifiedCaller, subscriptionId: string | undefined, kind: WebhookKind, byState = false): Promise<SelectQueryBuilder<WebhookDelivery>> {
    const qb = em.createQueryBuilder(WebhookDelivery, 'd');
    if (subscriptionId !== undefined) {
      const subscription = await this.subscriptions.findVisible(em, caller, subscriptionId, false, kind);
      return qb.where('d.subscription_id = :subscriptionId', { subscriptionId: subscription.id });
    }
    // Two spellings of the same rule, for the planner: with a state to match, the row's partial
    // index of that state is read in time order and each row's subscription checked (EXISTS);
    // without one, each visible subscription's range of the subscription/time index (IN).
    const owner = inSubtree('ws.organization_id', caller.organizationId);
    const visibleSubscription = `SELECT ws.id FROM webhook_subscriptions ws WHERE ws.kind = :kind AND ${owner.sql}`;
    return qb.where(
      byState ? `EXISTS (${visibleSubscription} AND ws.id = d.subscription_id)` : `d.subscription_id IN (${visibleSubscription})`,
      { ...owner.params, kind },
    );
  }

  private async isVisibleSubscription(em: EntityManager, caller: VerifiedCaller, subscriptionId: string, kind: WebhookKind): Promise<boolean> {
    const owner = await em
      .createQueryBuilder()
      .select('ws.organization_id', 'organization_id')
      .from('webhook_subscriptions', 'ws')
      .where('ws.id = :id AND ws.kind = :kind', { id: subscriptionId, kind })
      .getRawOne<{ organization_id: string }>();
    return owner !== undefined && (await isVisibleOrganization(em, caller, owner.organization_id));
  }

  /** A delivery of a subscription the caller can see; any other is as unknown as a missing one (404). */
  private async findVisible(em: EntityManager, caller: VerifiedCaller, id: string, lock = false, kind = WebhookKind.Webhook): Promise<WebhookDelivery> {
    const delivery = isLookupId(id) ? await em.findOne(WebhookDelivery, { where: { id }, ...(lock ? lockFor<WebhookDelivery>(em) : {}) }) : null;
    if (delivery && (await this.isVisibleSubscription(em, caller, delivery.subscriptionId, kind))) return delivery;
    throw new DomainError(ErrorCode.NotFound, DELIVERY_NOT_FOUND);
  }

  private async attemptsOf(em: EntityManager, ids: string[]): Promise<Map<string, WebhookDeliveryAttempt[]>> {
    const byDelivery = new Map<string, WebhookDeliveryAttempt[]>();
    if (ids.length === 0) return byDelivery;
    const attempts = await em.find(WebhookDeliveryAttempt, { where: { deliveryId: In(ids) }, order: { deliveryId: 'ASC', attempt: 'ASC' } });
    for (const a of attempts) {
      const list = byDelivery.get(a.deliveryId);
      if (list) list.push(a);
      else byDelivery.set(a.deliveryId, [a]);
    }
    return byDelivery;
  }
}

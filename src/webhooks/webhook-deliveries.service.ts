import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, In, SelectQueryBuilder, WhereExpressionBuilder } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { TransactionRunner } from '../database/transaction-runner.service';
import { DeliverySignal } from './delivery-signal.service';
import { WebhookDeliveryAttempt } from './webhook-delivery-attempt.entity';
import { DeliveryState, WebhookDelivery } from './webhook-delivery.entity';
import { isVisibleOrganization, SUBTREE_IDS_SQL } from '../organizations/organization-visibility';
import { WebhookKind } from './webhook-subscription.entity';
import { isLookupId, lockFor, WebhookSubscriptionsService } from './webhook-subscriptions.service';
import { DELIVERIES_LIMIT_DEFAULT, DeleteDeliveriesQueryDto, ListDeliveriesQueryDto, timeRangeOf } from './webhooks.dto';
import { newRowId } from '../common/ids';

const DELIVERY_NOT_FOUND = 'Webhook delivery not found.';

/** One attempt of a delivery as the API shows it. */
export interface AttemptView {
  attempt: number;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  response_body: string | null;
  error_class: string | null;
  error: string | null;
  success: boolean;
}

/**
 * A delivery as the API shows it, with its attempts, oldest first. `attempt_count` is the number
 * of attempts started (`attempts` is the list); `payload` is the exact text every attempt sends.
 */
export interface DeliveryView {
  id: string;
  subscription_id: string;
  event_id: string;
  event_type: string;
  organization_id: string | null;
  payload: string;
  state: DeliveryState;
  attempt_count: number;
  next_attempt_at: string;
  last_status: number | null;
  last_error: string | null;
  redelivery_of: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  attempts: AttemptView[];
}

export interface DeliveryPage {
  items: DeliveryView[];
  total: number;
}

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
  ) {}

  /** Newest first (`created_at`, then `id`), with the filters of the query. */
  async list(caller: VerifiedCaller, query: ListDeliveriesQueryDto, kind = WebhookKind.Webhook): Promise<DeliveryPage> {
    const em = this.dataSource.manager;
    const qb: SelectQueryBuilder<WebhookDelivery> = em.createQueryBuilder(WebhookDelivery, 'd');
    if (query.subscription_id !== undefined) {
      const subscription = await this.subscriptions.findVisible(em, caller, query.subscription_id, false, kind);
      qb.where('d.subscription_id = :subscriptionId', { subscriptionId: subscription.id });
    } else {
      qb.where(
        `d.subscription_id IN (SELECT ws.id FROM webhook_subscriptions ws WHERE ws.kind = :kind AND ws.organization_id IN (${SUBTREE_IDS_SQL}))`,
        { root: caller.organizationId, kind },
      );
    }
    applyFilters(qb, query, (name) => `d.${name}`);
    const [rows, total] = await qb
      .orderBy('d.created_at', 'DESC')
      .addOrderBy('d.id', 'DESC')
      .limit(query.limit ?? DELIVERIES_LIMIT_DEFAULT)
      .offset(query.offset ?? 0)
      .getManyAndCount();
    const attempts = await this.attemptsOf(em, rows.map((r) => r.id));
    return { items: rows.map((r) => deliveryView(r, attempts.get(r.id) ?? [])), total };
  }

  async get(caller: VerifiedCaller, id: string, kind = WebhookKind.Webhook): Promise<DeliveryView> {
    const em = this.dataSource.manager;
    const delivery = await this.findVisible(em, caller, id, false, kind);
    return deliveryView(delivery, (await this.attemptsOf(em, [delivery.id])).get(delivery.id) ?? []);
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

  /**
   * Records a new delivery of the same event (same event id, type, organization and payload
   * bytes) to the same subscription, due now, and wakes the worker once it is committed. A
   * disabled subscription answers 409: the delivery would never go out.
   */
  async redeliver(caller: VerifiedCaller, id: string, kind = WebhookKind.Webhook): Promise<DeliveryView> {
    const row = await this.transactions.run(async (em) => {
      const original = await this.findVisible(em, caller, id, false, kind);
      const subscription = await this.subscriptions.findVisible(em, caller, original.subscriptionId, true, kind);
      if (!subscription.enabled) {
        throw new DomainError(ErrorCode.Conflict, 'The subscription is disabled: enable it before redelivering.');
      }
      const now = new Date();
      const copy = Object.assign(new WebhookDelivery(), {
        id: newRowId(),
        subscriptionId: original.subscriptionId,
        eventId: original.eventId,
        eventType: original.eventType,
        organizationId: original.organizationId,
        payload: original.payload,
        state: DeliveryState.Pending,
        attempts: 0,
        nextAttemptAt: now,
        lockedUntil: null,
        lastStatus: null,
        lastError: null,
        redeliveryOf: original.id,
        createdAt: now,
        updatedAt: now,
        completedAt: null,
      });
      await em.insert(WebhookDelivery, { ...copy });
      return copy;
    });
    this.signal.deliveriesCommitted();
    return deliveryView(row, []);
  }

  /** A delivery of a subscription the caller can see; any other is as unknown as a missing one (404). */
  private async findVisible(em: EntityManager, caller: VerifiedCaller, id: string, lock = false, kind = WebhookKind.Webhook): Promise<WebhookDelivery> {
    const delivery = isLookupId(id) ? await em.findOne(WebhookDelivery, { where: { id }, ...(lock ? lockFor<WebhookDelivery>(em) : {}) }) : null;
    if (delivery) {
      const owner = await em
        .createQueryBuilder()
        .select('ws.organization_id', 'organization_id')
        .from('webhook_subscriptions', 'ws')
        .where('ws.id = :id AND ws.kind = :kind', { id: delivery.subscriptionId, kind })
        .getRawOne<{ organization_id: string }>();
      if (owner && (await isVisibleOrganization(em, caller, owner.organization_id))) return delivery;
    }
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

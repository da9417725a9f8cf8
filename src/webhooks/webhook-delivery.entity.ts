import { Column, Entity, Index } from 'typeorm';
import { WorkQueueRow } from '../work-core/work-queue-row.entity';

/** pending → delivering (claimed) → succeeded | pending (retry later) | failed (dead letter, replayable). */
export enum DeliveryState {
  Pending = 'pending',
  Delivering = 'delivering',
  Succeeded = 'succeeded',
  Failed = 'failed',
}

/** One event on its way to one subscription. Its payload is the exact bytes every attempt sends and signs. */
@Entity('webhook_deliveries')
@Index('webhook_deliveries_subscription_idx', ['subscriptionId', 'createdAt'])
// Partial: only the rows the delivery worker looks for (migration 1733000000000; the pending one ends
// with `id`, the claim's order, since 1733460000000). Queries that
// should use them spell the state as a literal: SQLite cannot match a bound parameter to the WHERE.
@Index('webhook_deliveries_pending_order_idx', ['subscriptionId', 'nextAttemptAt', 'id'], { where: "state = 'pending'" })
@Index('webhook_deliveries_claimed_idx', ['lockedUntil'], { where: "state = 'delivering'" })
@Index('webhook_deliveries_failed_idx', ['subscriptionId', 'createdAt', 'id'], { where: "state = 'failed'" })
@Index('webhook_deliveries_failed_time_idx', ['createdAt', 'id'], { where: "state = 'failed'" })
@Index('webhook_deliveries_redelivery_idx', ['redeliveryOf'], { where: 'redelivery_of IS NOT NULL' })
@Index('webhook_deliveries_event_idx', ['eventId'])
export class WebhookDelivery extends WorkQueueRow<DeliveryState> {
  @Column({ name: 'subscription_id', type: 'varchar', length: 36 })
  subscriptionId!: string;

  /** The event's id: `X-CS-Event-ID` and `webhook-id`, the same on every attempt and redelivery. */
  @Column({ name: 'event_id', type: 'varchar', length: 36 })
  eventId!: string;

  @Column({ name: 'event_type', type: 'varchar', length: 128 })
  eventType!: string;

  /** The organization the event belongs to. */
  @Column({ name: 'organization_id', type: 'varchar', length: 36, nullable: true })
  organizationId!: string | null;

  @Column({ type: 'text' })
  payload!: string;

  @Column({ name: 'last_status', type: 'integer', nullable: true })
  lastStatus!: number | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  /** The delivery this one replays (redeliver), or null. */
  @Column({ name: 'redelivery_of', type: 'varchar', length: 36, nullable: true })
  redeliveryOf!: string | null;

  /** When it succeeded or was given up. */
  @Column({ name: 'completed_at', type: Date, nullable: true })
  completedAt!: Date | null;
}

/** What a new delivery is about; everything else starts as {@link pendingDelivery} sets it. */
export type DeliveryContent = Pick<WebhookDelivery, 'id' | 'subscriptionId' | 'eventId' | 'eventType' | 'organizationId' | 'payload' | 'redeliveryOf'>;

/** A delivery due now and never attempted (a redelivery, a post-hook's). */
export function pendingDelivery(content: DeliveryContent, now: Date): WebhookDelivery {
  return Object.assign(new WebhookDelivery(), {
    ...content,
    state: DeliveryState.Pending,
    attempts: 0,
    nextAttemptAt: now,
    lockedUntil: null,
    lastStatus: null,
    lastError: null,
    createdAt: now,
    updatedAt: now,
    completedAt: null,
  });
}

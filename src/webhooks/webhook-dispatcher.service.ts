import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Subscription } from 'rxjs';
import { DataSource, EntityManager } from 'typeorm';
import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditEntry, AuditService, pgAuditInsertOf, pgAuditParameters } from '../audit/audit.service';
import { chunks } from '../common/chunks';
import { Wakeup } from '../common/wakeup';
import { fromDbDate, toSqliteDate } from '../database/raw-dates';
import { webhooksConfig, WebhooksConfig } from '../config/webhooks.config';
import { placeholders, sqliteValue } from '../database/raw-sql';
import { TransactionRunner } from '../database/transaction-runner.service';
import { isConcurrencyConflict } from '../database/unique-violation';
import { OutboxService } from '../events/outbox.service';
import { DeliverySignal } from './delivery-signal.service';
import { addDelivery } from './fan-out-row';
import { isPostHookEvent, postHookDeliveries } from './post-hook-deliveries';
import { DeliveryState } from './webhook-delivery.entity';
import { passesFilters } from './webhook-filters';
import { WebhookFilter, WebhookKind, WebhookScope } from './webhook-subscription.entity';

/** Events fanned out per transaction. */
const BATCH = 500;
/** Delivery rows per INSERT statement (well under SQLite's 32,766 bound parameters). */
const ROWS_PER_INSERT = 200;

interface EventRow {
  id: string;
  type: string;
  organization_id: string | null;
  /** JSON: the organization and its ancestors (DomainEvent.organizationIds). */
  organization_ids: string;
  data: string;
  created_at: Date | string;
  cause_id: string | null;
}

interface SubscriptionRow {
  id: string;
  organization_id: string;
  scope: WebhookScope;
  filters: string;
}

/** The body every subscriber of an event receives, byte for byte (docs/architecture.md, flow 2: the event as JSON). */
export function eventPayload(event: { id: string; type: string; organizationId: string | null; createdAt: Date; data: unknown }): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    organization_id: event.organizationId,
    created_at: event.createdAt.toISOString(),
    data: event.data,
  });
}

/**
 * Fans committed outbox events out to the deliveries of the subscriptions whose scope and filters
 * match (docs/architecture.md, flow 2), and marks them dispatched, all in one transaction: an event is fanned out
 * exactly once, also with several replicas (PostgreSQL: the batch is locked FOR UPDATE SKIP
 * LOCKED; SQLite: one writer). Woken by the outbox's commit signal, and polls as a fallback.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private readonly wakeup = new Wakeup();
  private readonly postgres: boolean;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private subscription: Subscription | null = null;

  constructor(
    @InjectDataSource() dataSource: DataSource,
    private readonly transactions: TransactionRunner,
    private readonly outbox: OutboxService,
    private readonly signal: DeliverySignal,
    @Inject(webhooksConfig.KEY) private readonly config: WebhooksConfig,
    private readonly audit: AuditService,
  ) {
    this.postgres = dataSource.options.type === 'postgres';
  }

  onApplicationBootstrap(): void {
    if (!this.config.workerEnabled) return;
    this.subscription = this.outbox.committed$.subscribe(() => this.wakeup.notify());
    this.loop = this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.subscription?.unsubscribe();
    this.wakeup.notify();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let dispatched = 0;
      try {
        dispatched = await this.dispatchBatch();
      } catch (error) {
        if (!isConcurrencyConflict(error)) this.logger.error({ err: error }, 'webhook dispatch failed; retrying at the next poll');
      }
      if (this.stopping) break;
      if (dispatched < BATCH) await this.wakeup.wait(this.config.pollMs);
      // better-sqlite3 is synchronous: without this, a backlog of full batches would never let
      // the event loop reach I/O, and the deliveries already claimed would wait for their answers.
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Fans out one batch of undispatched events, oldest first; returns how many events it took. */
  async dispatchBatch(): Promise<number> {
    const { events, deliveries } = await this.transactions.run(
      (em) => (this.postgres ? this.dispatchPostgres(em) : this.dispatchSqlite(em)),
      // Asynchronous commit: a fan-out lost to a power loss is done again from the (durable) events.
      { asyncCommit: true },
    );
    if (deliveries > 0) this.signal.deliveriesCommitted();
    return events;
  }

  /**
   * PostgreSQL: the batch taken and marked dispatched in one statement (its rows locked FOR UPDATE
   * SKIP LOCKED: another replica takes other events, and one that committed meanwhile is read again
   * and left out), then the deliveries and all the audit records in one statement.
   */
  private async dispatchPostgres(em: EntityManager): Promise<{ events: number; deliveries: number }> {
    const now = new Date();
    const rows: EventRow[] = await em.query(
      `WITH batch AS MATERIALIZED (
         SELECT id FROM events WHERE dispatched_at IS NULL ORDER BY created_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED
       ), taken AS (
         UPDATE events e SET dispatched_at = $1 FROM batch WHERE e.id = batch.id
         RETURNING e.id, e.type, e.organization_id, e.organization_ids, e.data, e.created_at, e.cause_id
       )
       SELECT * FROM taken ORDER BY created_at`,
      [now],
    );
    if (rows.length === 0) return { events: 0, deliveries: 0 };
    const made: AuditEntry[] = [];
    const values = await this.fanOut(em, rows, made, now);
    // One statement whatever the count, with a column array each: PostgreSQL plans a VALUES list of
    // thousands of placeholders for milliseconds (measured: 3 ms a 200-row statement, more than running it).
    // The audit records are keyed by the delivery's id or, for an event's record, by the event's id.
    const column = (c: number): unknown[] => values.map((row) => row[c]);
    const audit = [
      ...this.eventRecords(rows, made).map((entry) => ({ key: entry.id as string, entry })),
      ...made.map((entry) => ({ key: entry.deliveryId as string, entry })),
    ];
    await em.query(
      `WITH inserted AS (
         INSERT INTO webhook_deliveries
           (id, subscription_id, event_id, event_type, organization_id, payload, state, attempts, next_attempt_at, created_at, updated_at)
         SELECT v.id, v.subscription_id, v.event_id, v.event_type, v.organization_id, v.payload, $7, 0, $8, $8, $8
           FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], $6::text[])
             AS v(id, subscription_id, event_id, event_type, organization_id, payload)
         RETURNING id
       ), recorded AS (
         SELECT id FROM inserted UNION ALL SELECT unnest($9::varchar[])
       )
       ${pgAuditInsertOf('recorded', 10)}`,
      [column(0), column(1), column(2), column(3), column(4), column(5), DeliveryState.Pending, now, rows.map((r) => r.id), ...pgAuditParameters(audit)],
    );
    return { events: rows.length, deliveries: values.length };
  }

  /** SQLite (one writer): read the batch, write the deliveries and the audit trail, mark the events. */
  private async dispatchSqlite(em: EntityManager): Promise<{ events: number; deliveries: number }> {
    const rows: EventRow[] = await em.query(
      `SELECT id, type, organization_id, organization_ids, data, created_at, cause_id FROM events WHERE dispatched_at IS NULL
        ORDER BY created_at LIMIT ${BATCH}`,
    );
    if (rows.length === 0) return { events: 0, deliveries: 0 };
    const now = new Date();
    const made: AuditEntry[] = [];
    const values = await this.fanOut(em, rows, made, now);
    for (const slice of chunks(values, ROWS_PER_INSERT)) {
      await em.query(
        `INSERT INTO webhook_deliveries
           (id, subscription_id, event_id, event_type, organization_id, payload, state, attempts, next_attempt_at, created_at, updated_at)
         VALUES ${placeholders(slice.length, 11)}`,
        slice.flat().map(sqliteValue),
      );
    }
    await this.audit.record(em, [...this.eventRecords(rows, made), ...made]);
    for (const slice of chunks(rows.map((r) => r.id), ROWS_PER_INSERT)) {
      await em.query(`UPDATE events SET dispatched_at = ? WHERE id IN (${slice.map(() => '?').join(', ')})`, [toSqliteDate(now), ...slice]);
    }
    return { events: rows.length, deliveries: values.length };
  }

  /**
   * The audit trail (src/audit), in the fan-out's transaction: each event's record (its id is the
   * event's; its cause, the record of what recorded it), besides each delivery's in `made` (the delivery's id).
   */
  private eventRecords(rows: EventRow[], made: AuditEntry[]): AuditEntry[] {
    const fannedOut = new Map<string, number>();
    for (const d of made) fannedOut.set(d.eventId as string, (fannedOut.get(d.eventId as string) ?? 0) + 1);
    return rows.map((e): AuditEntry => ({
      id: e.id,
      at: fromDbDate(e.created_at),
      kind: AuditKind.Event,
      name: e.type,
      outcome: AuditOutcome.Ok,
      code: null,
      organizationId: e.organization_id,
      eventId: e.id,
      causeId: e.cause_id,
      detail: { deliveries: fannedOut.get(e.id) ?? 0 },
    }));
  }

  /**
   * The deliveries of the matching subscriptions, as rows in the insert's column order; adds each
   * one's audit record to `made`.
   */
  private async fanOut(em: EntityManager, events: EventRow[], made: AuditEntry[], now: Date): Promise<unknown[][]> {
    // Post-hook events go to the hook endpoints they name (and only there); hook endpoints get nothing else.
    const values = await postHookDeliveries(em, events.filter((e) => isPostHookEvent(e.type)), now, made);
    events = events.filter((e) => !isPostHookEvent(e.type));
    const subscriptions: SubscriptionRow[] = await em.query(
      `SELECT id, organization_id, scope, filters FROM webhook_subscriptions WHERE enabled = ${this.postgres ? 'TRUE' : '1'} AND kind = '${WebhookKind.Webhook}'`,
    );
    if (subscriptions.length === 0) events = [];
    const filters = new Map(subscriptions.map((s) => [s.id, JSON.parse(s.filters) as WebhookFilter[]]));
    for (const event of events) {
      // The organizations the event concerns, written with it (its own and its ancestors): matched on ids, no tree read here.
      const concerned = JSON.parse(event.organization_ids) as string[];
      const chain = event.organization_id === null ? null : new Set(concerned.length > 0 ? concerned : [event.organization_id]);
      let payload: string | null = null;
      for (const s of subscriptions) {
        const inScope =
          s.scope === WebhookScope.Global ||
          (chain !== null && (s.scope === WebhookScope.Local ? s.organization_id === event.organization_id : chain.has(s.organization_id)));
        if (!inScope || !passesFilters(filters.get(s.id) ?? [], event.type)) continue;
        payload ??= eventPayload({
          id: event.id,
          type: event.type,
          organizationId: event.organization_id,
          createdAt: fromDbDate(event.created_at),
          data: JSON.parse(event.data) as unknown,
        });
        addDelivery(values, made, { event, subscriptionId: s.id, ownerId: s.organization_id, payload, now });
      }
    }
    return values;
  }
}

import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Subscription } from 'rxjs';
import { Registry } from 'prom-client';
import { DataSource, EntityManager } from 'typeorm';
import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditEntry, AuditService, pgAuditInsertOf, pgAuditParameters } from '../audit/audit.service';
import { newRowId } from '../common/ids';
import { webhooksConfig, WebhooksConfig } from '../config/webhooks.config';
import { fromDbDate } from '../database/raw-dates';
import { executeSql, selectSql } from '../database/raw-sql';
import { TransactionRunner } from '../database/transaction-runner.service';
import { Counters, WebhookDeliveryOutcome } from '../metrics/counters';
import { SettleWith, WorkItem, WorkOutcome, WorkProcessor, WorkQueueTable, Verdict } from '../work-core/work-queue';
import { WorkRunner } from '../work-core/work-runner';
import { storable } from '../work-core/work-sql';
import { OutboxBackpressure } from '../events/outbox-backpressure';
import { OutboxService } from '../events/outbox.service';
import { DeliverySignal } from './delivery-signal.service';
import { subscriptionDisabledEvent } from './webhook-health.job';
import { WebhookKind } from './webhook-subscription.entity';
import { DeliveryErrorClass } from './webhook-delivery-attempt.entity';
import { DeliveryState } from './webhook-delivery.entity';
import { SendResult, SendTarget, unanswered, WebhookSender } from './webhook-sender.service';

const MAX_ERROR_LENGTH = 2000;

/** What a delivery needs of its subscription: where and how it is sent (see TargetRow). */
const TARGET_COLUMNS = ['id', 'organization_id', 'created_by', 'payload_url', 'secret', 'previous_secret', 'previous_secret_expires_at', 'ssl_verification'] as const;

/** `webhook_deliveries` as the work core leases it: per subscription, of enabled subscriptions only. */
const DELIVERIES: WorkQueueTable = {
  name: 'webhook_deliveries',
  table: 'webhook_deliveries',
  keyColumn: 'subscription_id',
  pendingState: DeliveryState.Pending,
  leasedState: DeliveryState.Delivering,
  doneState: DeliveryState.Succeeded,
  failedState: DeliveryState.Failed,
  payloadColumns: ['event_id', 'event_type', 'payload'],
  // PostgreSQL returns each delivery's subscription with the claim: one statement.
  keyGate: { table: 'webhook_subscriptions', where: 'g.enabled = ?', params: [true], columns: TARGET_COLUMNS },
  outcomeColumns: { last_status: 'integer', last_error: 'text' },
  history: {
    table: 'webhook_delivery_attempts',
    rowColumn: 'delivery_id',
    columns: {
      id: 'varchar',
      attempt: 'integer',
      started_at: 'timestamptz',
      duration_ms: 'integer',
      status_code: 'integer',
      response_body: 'text',
      error_class: 'varchar',
      error: 'text',
      success: 'boolean',
      request_url: 'varchar',
      request_headers: 'text',
    },
  },
  interruptedValues: { last_error: 'interrupted: the worker shut down during the attempt' },
};

interface DeliveryRow {
  event_id: string;
  event_type: string;
  payload: string;
}

/** A subscription as its deliveries (and a hook endpoint's calls) are sent: where, how, signed with what. */
export interface TargetRow {
  id: string;
  organization_id: string;
  created_by: string | null;
  payload_url: string;
  secret: string | null;
  previous_secret: string | null;
  previous_secret_expires_at: Date | string | null;
  ssl_verification: boolean | number;
}

type Delivery = WorkItem<DeliveryRow, TargetRow>;
type DeliveryOutcome = WorkOutcome<DeliveryRow, TargetRow, SendResult>;

/**
 * Sends due webhook deliveries (docs/architecture.md, flow 2) as a processor of the work core
 * (docs/work-core.md), which claims, leases, limits per subscription, retries and gives back: this
 * class signs and POSTs one delivery, and records its attempt, audit record and endpoint health.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, BeforeApplicationShutdown, WorkProcessor<DeliveryRow, TargetRow, SendResult> {
  private readonly logger = new Logger(DeliveryWorker.name);
  private readonly runner: WorkRunner<DeliveryRow, TargetRow, SendResult>;
  private readonly postgres: boolean;
  private readonly counters: Counters;
  private subscription: Subscription | null = null;

  constructor(
    @InjectDataSource() dataSource: DataSource,
    transactions: TransactionRunner,
    private readonly sender: WebhookSender,
    private readonly signal: DeliverySignal,
    @Inject(webhooksConfig.KEY) private readonly config: WebhooksConfig,
    private readonly audit: AuditService,
    private readonly outbox: OutboxService,
    backpressure: OutboxBackpressure,
    registry: Registry,
  ) {
    this.postgres = dataSource.options.type === 'postgres';
    this.counters = Counters.for(registry);
    this.runner = new WorkRunner(
      dataSource,
      transactions,
      DELIVERIES,
      this,
      {
        concurrency: config.concurrency,
        perKeyLimit: config.concurrencyPerSubscription,
        maxAttempts: config.maxAttempts,
        backoff: { baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs },
        pollMs: config.pollMs,
        leaseMs: config.leaseMs,
        shutdownGraceMs: config.shutdownGraceMs,
        onLateness: (ms) => backpressure.report(DELIVERIES.name, ms, config.maxLagMs),
      },
      registry,
    );
  }

  onApplicationBootstrap(): void {
    if (!this.config.workerEnabled) return;
    this.subscription = this.signal.deliveries$.subscribe(() => this.runner.notify());
    this.runner.start();
  }

  /**
   * Lets the attempts in flight finish for WEBHOOKS_SHUTDOWN_GRACE_MS, then gives the leases of those
   * still running back; their receivers may have got them, and a later attempt repeats them with
   * the same webhook-id (at least once).
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.config.workerEnabled) return;
    this.subscription?.unsubscribe();
    await this.runner.stop();
  }

  /**
   * The claimed deliveries' subscriptions: where and how each is sent. PostgreSQL's claim returned
   * them (`key_<column>`); SQLite reads them in the claim's transaction.
   */
  async prepare(em: EntityManager, items: Delivery[]): Promise<void> {
    if (this.postgres) {
      for (const d of items) {
        const row = d.row as unknown as Record<string, unknown>;
        d.context = Object.fromEntries(TARGET_COLUMNS.map((c) => [c, row[`key_${c}`]])) as unknown as TargetRow;
      }
      return;
    }
    const ids = [...new Set(items.map((d) => d.key))];
    const targets = await selectSql<TargetRow>(
      em,
      `SELECT ${TARGET_COLUMNS.join(', ')} FROM webhook_subscriptions WHERE id IN (${ids.map(() => '?').join(', ')})`,
      ids,
    );
    const byId = new Map(targets.map((t) => [t.id, t]));
    for (const d of items) d.context = byId.get(d.key);
  }

  async perform(delivery: Delivery): Promise<SendResult> {
    const to = sendTargetOf(delivery.context as TargetRow);
    const { event_id: eventId, event_type: eventType, payload } = delivery.row;
    try {
      return await this.sender.send(to, { eventId, eventType, body: Buffer.from(payload, 'utf8') });
    } catch (error) {
      // The sender reports every failure as a result; a throw is a bug, recorded like a connection error.
      return unanswered({ url: to.url, headers: {} }, new Date(), 0, DeliveryErrorClass.Connect, error instanceof Error ? error.message : String(error));
    }
  }

  /** The verdict, the delivery's `last_status`/`last_error`, and the attempt's row (written with the outcome, in one statement on PostgreSQL). */
  judge(delivery: Delivery, result: SendResult): { verdict: Verdict; values: Record<string, unknown>; history: Record<string, unknown> } {
    const values = { last_status: result.status, last_error: result.success ? null : describe(result) };
    const history = {
      id: newRowId(),
      attempt: delivery.attempts,
      started_at: result.startedAt,
      duration_ms: Math.round(result.durationMs),
      status_code: result.status,
      response_body: result.responseBody === null ? null : storable(result.responseBody),
      error_class: result.success ? null : result.errorClass,
      error: result.error === null ? null : storable(result.error.slice(0, MAX_ERROR_LENGTH)),
      success: result.success,
      request_url: result.request.url,
      request_headers: JSON.stringify(result.request.headers),
    };
    if (result.success) return { verdict: { kind: 'done' }, values, history };
    // 410: the receiver is gone for good (the subscription is disabled); a refused address will not become allowed by retrying.
    if (result.gone || result.errorClass === DeliveryErrorClass.Blocked) return { verdict: { kind: 'failed' }, values, history };
    return { verdict: { kind: 'retry', retryAfterMs: result.retryAfterMs }, values, history };
  }

  /**
   * PostgreSQL: each applied outcome's audit record and the endpoints' health, written by the
   * statement that settles the batch (one statement for the whole batch; `record` does the rest).
   */
  settleWith(outcomes: readonly DeliveryOutcome[], now: Date, first: number): SettleWith | null {
    if (!this.postgres) return null;
    const audit = outcomes.map((o) => ({ key: o.item.id, entry: attemptRecord(o, now) }));
    const health = first + 1 + AUDIT_PARAMETERS;
    return {
      ctes: `audited AS (${pgAuditInsertOf('settled', first)}),
        ${pgHealthOf('settled', health)}`,
      params: [...pgAuditParameters(audit), healthRows(outcomes)],
    };
  }

  /** PostgreSQL: a batch without a 410 writes nothing but its settle statement (see record). */
  settlesAlone(batch: ReadonlyArray<{ result: SendResult }>): boolean {
    return this.postgres && !batch.some(({ result }) => result.gone);
  }

  /** Each applied outcome's audit record, the endpoints' health (SQLite; on PostgreSQL see settleWith), and a 410's disabling (the attempt row is the core's history row). */
  async record(em: EntityManager, outcomes: DeliveryOutcome[], now: Date): Promise<void> {
    const audited: AuditEntry[] = [];
    for (const outcome of outcomes) {
      const { item: delivery, result, applied } = outcome;
      if (!applied) {
        this.logger.warn(`webhook delivery ${delivery.id}: claim lost before its outcome was recorded (another worker owns it now)`);
        continue;
      }
      if (!this.postgres) audited.push(attemptRecord(outcome, now));
      if (result.gone) await this.disableGone(em, delivery.key, now);
    }
    if (this.postgres) return;
    await this.recordHealth(em, outcomes.filter((o) => o.applied));
    await this.audit.record(em, audited);
  }

  /**
   * A receiver's 410 Gone disables its subscription; a webhook's disabling is an event, as the
   * health check's is (a hook endpoint's enabled flag is the hooks API's: no event).
   */
  private async disableGone(em: EntityManager, subscriptionId: string, now: Date): Promise<void> {
    const reason = `the receiver answered 410 Gone at ${now.toISOString()}`;
    const disabled = await executeSql(
      em,
      `UPDATE webhook_subscriptions SET enabled = ?, disabled_reason = ?, disabled_at = ?, updated_at = ? WHERE id = ? AND enabled = ?`,
      [false, reason, now, now, subscriptionId, true],
    );
    if (disabled === 0) return;
    const [row] = await selectSql<{ id: string; organization_id: string; name: string; payload_url: string; failing_since: Date | string | null }>(
      em,
      `SELECT id, organization_id, name, payload_url, failing_since FROM webhook_subscriptions WHERE id = ? AND kind = ?`,
      [subscriptionId, WebhookKind.Webhook],
    );
    if (row) await this.outbox.record(em, subscriptionDisabledEvent(row, reason, now));
  }

  /** Once committed: counters, a line for each dead letter and each 410; the subscriptions a 410 disabled. */
  committed(outcomes: DeliveryOutcome[]): string[] {
    const counted: WebhookDeliveryOutcome[] = outcomes.map((o) =>
      !o.applied ? 'lost_claim' : o.settled === 'done' ? 'succeeded' : o.settled === 'retry' ? 'retry' : o.result.gone ? 'gone' : 'failed',
    );
    this.counters.webhookDelivered(counted);
    const gone: string[] = [];
    outcomes.forEach(({ item: delivery, result }, i) => {
      if (counted[i] !== 'failed' && counted[i] !== 'gone') return;
      const ids = { deliveryId: delivery.id, eventId: delivery.row.event_id, subscriptionId: delivery.key, attempts: delivery.attempts };
      this.logger.warn({ ...ids, status: result.status, errorClass: result.errorClass }, `webhook delivery ${delivery.id} failed for good (dead letter) after ${delivery.attempts} attempt(s): ${describe(result)}`);
      if (counted[i] === 'gone') {
        gone.push(delivery.key);
        this.logger.warn({ subscriptionId: delivery.key }, `webhook subscription ${delivery.key} disabled: its receiver answered 410 Gone`);
      }
    });
    // What was claimed ahead for a disabled subscription waits, pending, for it to be enabled again.
    return gone;
  }

  /**
   * Endpoint health (WebhookHealthJob): a subscription whose latest attempt of the batch succeeded
   * is not failing; one whose latest failed is failing since its first failure after its last
   * success, or since earlier when it already was. Two statements a batch at most, whatever its size.
   */
  private async recordHealth(em: EntityManager, rows: DeliveryOutcome[]): Promise<void> {
    if (rows.length === 0) return;
    const bySubscription = new Map<string, DeliveryOutcome[]>();
    for (const row of rows) {
      const list = bySubscription.get(row.item.key);
      if (list) list.push(row);
      else bySubscription.set(row.item.key, [row]);
    }
    const succeeded: string[] = [];
    const failing: string[] = [];
    let failingFrom: number | null = null;
    for (const [subscriptionId, list] of bySubscription) {
      const ordered = list.length === 1 ? list : [...list].sort((a, b) => a.result.startedAt.getTime() - b.result.startedAt.getTime());
      let lastSuccess = -1;
      ordered.forEach((row, i) => {
        if (row.result.success) lastSuccess = i;
      });
      if (lastSuccess >= 0) succeeded.push(subscriptionId);
      const firstFailure = ordered[lastSuccess + 1];
      if (firstFailure === undefined) continue;
      failing.push(subscriptionId);
      failingFrom = Math.min(failingFrom ?? Infinity, firstFailure.result.startedAt.getTime());
    }
    const list = (ids: string[]): string => ids.map(() => '?').join(', ');
    // Conditional on the column, so that a healthy subscription's row is read, not written.
    if (succeeded.length > 0) {
      await executeSql(em, `UPDATE webhook_subscriptions SET failing_since = NULL WHERE id IN (${list(succeeded)}) AND failing_since IS NOT NULL`, succeeded);
    }
    if (failing.length > 0 && failingFrom !== null) {
      await executeSql(em, `UPDATE webhook_subscriptions SET failing_since = ? WHERE id IN (${list(failing)}) AND failing_since IS NULL`, [new Date(failingFrom), ...failing]);
    }
  }
}

/** An attempt's audit record (src/audit), caused by the delivery's (whose id is the delivery's). */
function attemptRecord({ item: delivery, result, settled }: DeliveryOutcome, now: Date): AuditEntry {
  return {
    at: now,
    kind: AuditKind.DeliveryAttempt,
    name: delivery.row.event_type,
    outcome: result.success ? AuditOutcome.Ok : AuditOutcome.Failed,
    code: result.status !== null ? String(result.status) : result.errorClass,
    organizationId: delivery.context?.organization_id ?? null,
    eventId: delivery.row.event_id,
    deliveryId: delivery.id,
    causeId: delivery.id,
    durationMs: result.durationMs,
    detail: { attempt: delivery.attempts, state: settled === 'done' ? DeliveryState.Succeeded : settled === 'retry' ? DeliveryState.Pending : DeliveryState.Failed },
  };
}

/** The parameters of `pgAuditInsertOf` after its first (the keys): one per column. */
const AUDIT_PARAMETERS = pgAuditParameters([]).length - 1;

/**
 * The batch's outcomes for {@link pgHealthOf}, as JSON: each with its place in the batch ordered
 * by start (stable, as recordHealth orders a subscription's attempts).
 */
function healthRows(outcomes: readonly DeliveryOutcome[]): string {
  const ordered = outcomes.map((o, i) => ({ o, i })).sort((a, b) => a.o.result.startedAt.getTime() - b.o.result.startedAt.getTime() || a.i - b.i);
  return JSON.stringify(
    ordered.map(({ o }, ord) => ({ id: o.item.id, subscription_id: o.item.key, ord, success: o.result.success, started_at: o.result.startedAt.toISOString() })),
  );
}

/**
 * PostgreSQL: recordHealth as CTEs of the settle statement, over the outcomes applied (joined with
 * `cte`), `$param` being {@link healthRows}. A subscription with a success in the batch is no longer
 * failing unless attempts failed after its last success; then, as one without a success whose
 * attempts failed, it is failing since the batch's earliest such failure (or since earlier, when it
 * already was and had no success). Its row is written only when the value changes.
 */
function pgHealthOf(cte: string, param: number): string {
  return `health_outcomes AS (
      SELECT o.subscription_id, o.success, o.started_at,
             o.ord > COALESCE(MAX(o.ord) FILTER (WHERE o.success) OVER (PARTITION BY o.subscription_id), -1) AS after_success
        FROM jsonb_to_recordset($${param}::jsonb) AS o(id varchar, subscription_id varchar, ord integer, success boolean, started_at timestamptz)
        JOIN ${cte} ON ${cte}.id = o.id
    ), health AS (
      SELECT subscription_id, bool_or(success) AS recovered, bool_or(NOT success AND after_success) AS failing
        FROM health_outcomes GROUP BY subscription_id
    ), failing_from AS (
      SELECT MIN(started_at) AS at FROM health_outcomes WHERE NOT success AND after_success
    ), health_written AS (
      UPDATE webhook_subscriptions s
         SET failing_since = CASE WHEN NOT h.failing THEN NULL WHEN h.recovered THEN f.at ELSE COALESCE(s.failing_since, f.at) END
        FROM health h, failing_from f
       WHERE s.id = h.subscription_id
         AND s.failing_since IS DISTINCT FROM (CASE WHEN NOT h.failing THEN NULL WHEN h.recovered THEN f.at ELSE COALESCE(s.failing_since, f.at) END)
    )`;
}

/** Where and how a delivery is sent; signed with the current secret, then the previous one while its overlap lasts. */
export function sendTargetOf(target: TargetRow, now = Date.now()): SendTarget {
  const secrets: string[] = [];
  if (target.secret) secrets.push(target.secret);
  if (target.previous_secret && target.previous_secret_expires_at && fromDbDate(target.previous_secret_expires_at).getTime() > now) {
    secrets.push(target.previous_secret);
  }
  return {
    url: target.payload_url,
    sslVerification: Boolean(target.ssl_verification),
    secrets,
    owner: target.created_by ?? target.organization_id,
  };
}

function describe(result: SendResult): string {
  const what = result.error ?? (result.status !== null ? `HTTP ${result.status}` : 'failed');
  return storable(`${result.errorClass ?? 'http'}: ${what}`.slice(0, MAX_ERROR_LENGTH));
}

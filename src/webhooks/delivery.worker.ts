import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { merge, Subscription } from 'rxjs';
import { DataSource, EntityManager } from 'typeorm';
import { backoffDelayMs } from '../common/backoff';
import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditEntry, AuditService } from '../audit/audit.service';
import { Wakeup } from '../common/wakeup';
import { webhooksConfig, WebhooksConfig } from '../config/webhooks.config';
import { fromDbDate, toSqliteDate } from '../database/raw-dates';
import { executeSql, selectSql, sqliteStatement } from '../database/raw-sql';
import { TransactionOptions, TransactionRunner } from '../database/transaction-runner.service';
import { isConcurrencyConflict } from '../database/unique-violation';
import { MetricsService, WebhookDeliveryOutcome } from '../metrics/metrics.service';
import { DeliverySignal } from './delivery-signal.service';
import { DeliveryErrorClass } from './webhook-delivery-attempt.entity';
import { DeliveryState } from './webhook-delivery.entity';
import { SendResult, SendTarget, WebhookSender } from './webhook-sender.service';
import { newRowId } from '../common/ids';

/** Subscriptions with due work considered by one claim (each is one part of a UNION ALL). */
const MAX_SUBSCRIPTIONS_PER_CLAIM = 200;
/** Attempts at writing a batch of outcomes before leaving the deliveries to their claim's expiry. */
const OUTCOME_WRITE_ATTEMPTS = 3;
const MAX_ERROR_LENGTH = 2000;
/**
 * How long a delivery claimed ahead may wait for a slot of its subscription (ms). Longer (the
 * subscription's attempts are hanging), it is given back: its target was read at the claim, and a
 * subscription deleted, disabled or re-pointed meanwhile must not get it from this snapshot.
 */
const READY_MAX_WAIT_MS = 1000;
/**
 * Claims and outcomes commit asynchronously (no log flush wait): losing the last of them to a power
 * loss only makes a delivery go out again with the same webhook-id, which at-least-once allows.
 * Events themselves, and every change made through the API, stay fully durable.
 */
const BOOKKEEPING: TransactionOptions = { asyncCommit: true };

/** A delivery as claimed, with what its attempt needs. `attempts` (after the claim) fences later writes. */
interface Claimed {
  /** When this worker claimed it (ms): a claim not started within the attempt timeout is left to expire. */
  claimedAt: number;
  id: string;
  subscriptionId: string;
  eventId: string;
  eventType: string;
  payload: string;
  attempts: number;
  /** The subscription's owner: who may read the attempt's audit record. */
  organizationId?: string | null;
}

interface ClaimedRow {
  id: string;
  subscription_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  attempts: number | string;
}

interface TargetRow {
  id: string;
  organization_id: string;
  created_by: string | null;
  payload_url: string;
  secret: string | null;
  previous_secret: string | null;
  previous_secret_expires_at: Date | string | null;
  ssl_verification: boolean | number;
}

interface Claim {
  claimed: Claimed[];
  targets: Map<string, TargetRow>;
}

const NO_CLAIM: Claim = { claimed: [], targets: new Map() };

/** An outcome with the delivery's next state, as written. */
interface OutcomeRow {
  delivery: Claimed;
  result: SendResult;
  state: DeliveryState;
  nextAttemptAt: Date;
  lastError: string | null;
  completedAt: Date | null;
}

interface Outcome {
  delivery: Claimed;
  result: SendResult;
}

interface Ready {
  delivery: Claimed;
  target: TargetRow | undefined;
}

/**
 * Sends due deliveries (docs/architecture.md, flow 2): claims them with a conditional UPDATE that re-checks each row
 * (so two workers, in one process or many replicas, never hold the same claim), POSTs them with
 * bounded concurrency overall and per subscription (a slow or dead endpoint can take at most its
 * share of the slots), and records every attempt. Outcomes finishing together are written in one
 * transaction (a group commit).
 *
 * Pipelining: a slot is an HTTP attempt in flight, freed when the answer is in. Deliveries are
 * claimed ahead (`ready`), so a freed slot starts the next attempt at once instead of waiting for a
 * commit, and outcomes are written behind. A worker holds at most twice its slots' worth of claims
 * (ahead, in flight, or waiting for their outcome's commit), and no attempt starts while those in
 * flight and those unrecorded reach twice the slots, so a crash repeats at most
 * 2 × WEBHOOKS_CONCURRENCY attempts, with the same `webhook-id`. Claims that never started are
 * given back on shutdown, or expire after a crash: they are late, not repeated.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DeliveryWorker.name);
  private readonly wakeup = new Wakeup();
  private readonly postgres: boolean;
  /** Attempts whose HTTP exchange is running: the slots. */
  private readonly inflight = new Map<string, Promise<void>>();
  /** The claims behind `inflight`, to give back if shutdown cannot wait for them. */
  private readonly claims = new Map<string, Claimed>();
  /** Claimed and committed, not started yet, oldest first. */
  private readonly ready: Ready[] = [];
  /** Set once shutdown gave the claims in flight back: their late outcomes are not written. */
  private released = false;
  /** Claims being made in a transaction not committed yet (they become `ready`). */
  private reserved = 0;
  /** When this worker last looked for expired claims (ms). */
  private lastExpiredScan = 0;
  /** Per subscription: claims held (reserved, ready and in flight), bounded by twice its share. */
  private readonly perSubscription = new Map<string, number>();
  /** Per subscription: attempts in flight, bounded by its share. */
  private readonly inflightPerSubscription = new Map<string, number>();
  /** Outcomes queued for the next write. */
  private readonly outcomes: Outcome[] = [];
  /** Outcomes queued or being written: attempts made whose outcome is not committed yet. */
  private unrecorded = 0;
  private pumpScheduled = false;
  /** Claimed ahead, waited too long, being given back: still `delivering` until that commits. */
  private readonly returning: Claimed[] = [];
  private givingBack: Promise<void> | null = null;
  /** The running write of outcomes, if any. */
  private flushing: Promise<void> | null = null;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private subscription: Subscription | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly transactions: TransactionRunner,
    private readonly sender: WebhookSender,
    private readonly signal: DeliverySignal,
    @Inject(webhooksConfig.KEY) private readonly config: WebhooksConfig,
    private readonly audit: AuditService,
    @Optional() private readonly metrics?: MetricsService,
  ) {
    this.postgres = dataSource.options.type === 'postgres';
  }

  onApplicationBootstrap(): void {
    if (!this.config.workerEnabled) return;
    this.subscription = merge(this.signal.deliveries$).subscribe(() => this.wakeup.notify());
    this.loop = this.run();
  }

  /**
   * Stops claiming and lets the attempts in flight finish and be recorded, for at most
   * WEBHOOKS_SHUTDOWN_GRACE_MS; the claims of those still running then are given back (pending, due
   * now) so that no delivery stays locked after the process is gone. Their receivers may have got
   * them: a later attempt repeats them with the same webhook-id (at least once).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.subscription?.unsubscribe();
    for (const timer of this.timers) clearTimeout(timer);
    this.wakeup.notify();
    await this.loop;
    let graceTimer: NodeJS.Timeout | undefined;
    const drained =
      this.inflight.size === 0 ||
      (await Promise.race([
        Promise.all(this.inflight.values()).then(() => true),
        new Promise<boolean>((resolve) => (graceTimer = setTimeout(() => resolve(false), this.config.shutdownGraceMs))),
      ]));
    clearTimeout(graceTimer);
    const interrupted = drained ? [] : [...this.claims.values()];
    if (!drained) this.released = true;
    // Outcomes already queued are written, within what is left of the grace (a write stuck on a
    // lock must not hold the shutdown); a late outcome of an interrupted attempt is not.
    const deadline = Date.now() + (drained ? this.config.shutdownGraceMs : 0) + 1000;
    while ((this.flushing || this.givingBack) && Date.now() < deadline) {
      await Promise.race([Promise.all([this.flushing, this.givingBack]), new Promise((resolve) => setTimeout(resolve, deadline - Date.now()))]);
    }
    // Claims not started (none start once stopping) are handed back as if never made, attempt count too: nothing was sent.
    const unstarted = this.ready.splice(0).map((r) => r.delivery);
    for (const delivery of unstarted) release(this.perSubscription, delivery.subscriptionId);
    if (unstarted.length === 0 && interrupted.length === 0) return;
    try {
      await this.transactions.run(async (em) => {
        const now = new Date();
        await this.giveBackUnstarted(em, unstarted, now);
        for (const claim of interrupted) {
          await executeSql(
            em,
            `UPDATE webhook_deliveries SET state = ?, locked_until = NULL, next_attempt_at = ?, last_error = ?, updated_at = ?
              WHERE id = ? AND state = ? AND attempts = ?`,
            [DeliveryState.Pending, now, 'interrupted: the worker shut down during the attempt', now, claim.id, DeliveryState.Delivering, claim.attempts],
          );
        }
      });
      if (interrupted.length > 0) this.logger.warn(`shutdown: ${interrupted.length} webhook deliveries still in flight were given back for another attempt`);
    } catch (error) {
      this.logger.error({ err: error }, 'shutdown: the claims held could not be given back; they expire on their own');
    }
  }

  /** How long a claim lasts: the attempt's timeout, twice (its outcome may wait for a busy database), plus slack. */
  private get claimTtlMs(): number {
    return 2 * this.config.timeoutMs + 5000;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      // SQLite: a write of outcomes on its way claims in its own transaction (one commit, not two).
      const free = this.wantsClaim() && (this.postgres || this.flushing === null) ? this.freeSlots() : 0;
      let claimed = 0;
      if (free > 0) {
        try {
          claimed = await this.claimAndSend();
        } catch (error) {
          if (!isConcurrencyConflict(error)) this.logger.error({ err: error }, 'claiming deliveries failed; retrying at the next poll');
        }
      }
      if (this.stopping) break;
      // A full claim may leave more due: look again at once. Otherwise wait for a slot, a signal or the poll.
      if (free <= 0 || claimed < free) await this.wakeup.wait(this.config.pollMs);
    }
  }

  /**
   * Claims this worker may still make: it holds at most twice its slots' worth, counting those
   * claimed ahead, in flight, and waiting for their outcome's commit (all still `delivering`).
   * `writing`: outcomes the current transaction has just written, no longer held.
   */
  private freeSlots(writing = 0): number {
    return 2 * this.config.concurrency - this.inflight.size - this.ready.length - this.reserved - this.unrecorded - this.returning.length + writing;
  }

  /**
   * Whether a claim is worth its statements now: a quarter of the slots' worth is free, or nothing
   * is ready for a free slot. Claiming for every slot that frees would cost a transaction per attempt.
   */
  private wantsClaim(writing = 0): boolean {
    const free = this.freeSlots(writing);
    if (free <= 0) return false;
    return free >= Math.ceil(this.config.concurrency / 4) || (this.ready.length === 0 && this.inflight.size < this.config.concurrency);
  }

  private async claimAndSend(): Promise<number> {
    // PostgreSQL: single statements straight from the pool; SQLite: through the one connection's queue.
    const claim = await this.reserving((hold) => (this.postgres ? this.claim(this.dataSource.manager, hold) : this.transactions.run((em) => this.claim(em, hold), BOOKKEEPING)));
    this.enqueue(claim);
    return claim.claimed.length;
  }

  /**
   * Runs `work`, which claims and reserves slots through `hold`; if `work` fails after a claim (its
   * transaction rolled back), the slots are given back here.
   */
  private async reserving<T>(work: (hold: (claim: Claim) => void) => Promise<T>): Promise<T> {
    let held: Claim | null = null;
    try {
      return await work((claim) => {
        if (held) this.unreserve(held);
        held = claim;
        this.reserved += claim.claimed.length;
        for (const d of claim.claimed) this.perSubscription.set(d.subscriptionId, (this.perSubscription.get(d.subscriptionId) ?? 0) + 1);
      });
    } catch (error) {
      if (held) this.unreserve(held);
      throw error;
    }
  }

  private unreserve(claim: Claim): void {
    this.reserved -= claim.claimed.length;
    for (const d of claim.claimed) release(this.perSubscription, d.subscriptionId);
  }

  /** A committed claim: its deliveries move from reserved to ready, and those that can start do. */
  private enqueue({ claimed, targets }: Claim): void {
    this.reserved -= claimed.length;
    for (const delivery of claimed) this.ready.push({ delivery, target: targets.get(delivery.subscriptionId) });
    this.pump();
  }

  /**
   * Starts ready deliveries, oldest first, while a slot is free, their subscription is under its
   * share, and the attempts not yet recorded stay under their bound. One that waited longer than
   * READY_MAX_WAIT_MS is given back. Nothing starts once shutdown began.
   */
  private pump(): void {
    if (this.stopping) return;
    const { concurrency, concurrencyPerSubscription } = this.config;
    const now = Date.now();
    for (let i = 0; i < this.ready.length; ) {
      const { delivery, target } = this.ready[i];
      if (now - delivery.claimedAt > READY_MAX_WAIT_MS) {
        this.ready.splice(i, 1);
        this.returnUnstarted(delivery);
        continue;
      }
      if (this.inflight.size >= concurrency || this.inflight.size + this.unrecorded >= 2 * concurrency) {
        i++;
        continue;
      }
      if ((this.inflightPerSubscription.get(delivery.subscriptionId) ?? 0) >= concurrencyPerSubscription) {
        i++;
        continue;
      }
      this.ready.splice(i, 1);
      this.start(delivery, target);
    }
  }

  /**
   * Pumps once the answers that came in with this one are all in: the next attempts then go out
   * together (fewer wake-ups of the receivers and of this process) rather than one per answer.
   */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
      if (this.wantsClaim()) this.wakeup.notify();
    });
  }

  /** Hands a claimed, unstarted delivery back (pending, its attempt not counted), with others. */
  private returnUnstarted(delivery: Claimed): void {
    release(this.perSubscription, delivery.subscriptionId);
    this.returning.push(delivery);
    this.givingBack ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.giveBack());
  }

  private async giveBack(): Promise<void> {
    while (this.returning.length > 0) {
      const batch = this.returning.slice();
      try {
        await this.transactions.run((em) => this.giveBackUnstarted(em, batch, new Date()), BOOKKEEPING);
      } catch (error) {
        this.logger.error({ err: error }, `${batch.length} webhook deliveries claimed ahead could not be given back; their claims expire on their own`);
      }
      this.returning.splice(0, batch.length);
    }
    this.givingBack = null;
    this.wakeup.notify();
  }

  /** Claims never started: pending again as if never claimed (the attempt count too), fenced by the claim. */
  private async giveBackUnstarted(em: EntityManager, claims: Claimed[], now: Date): Promise<void> {
    for (const claim of claims) {
      await executeSql(
        em,
        `UPDATE webhook_deliveries SET state = ?, attempts = attempts - 1, locked_until = NULL, updated_at = ?
          WHERE id = ? AND state = ? AND attempts = ?`,
        [DeliveryState.Pending, now, claim.id, DeliveryState.Delivering, claim.attempts],
      );
    }
  }

  /** Starts one attempt; its slot is freed when the answer is in, its outcome written behind. */
  private start(delivery: Claimed, target: TargetRow | undefined): void {
    const subscriptionId = delivery.subscriptionId;
    this.claims.set(delivery.id, delivery);
    this.inflightPerSubscription.set(subscriptionId, (this.inflightPerSubscription.get(subscriptionId) ?? 0) + 1);
    const attempt = this.attempt(delivery, target).finally(() => {
      this.inflight.delete(delivery.id);
      this.claims.delete(delivery.id);
      release(this.inflightPerSubscription, subscriptionId);
      release(this.perSubscription, subscriptionId);
      this.pumpSoon();
    });
    this.inflight.set(delivery.id, attempt);
  }

  /** Sends one claimed delivery and queues its outcome for writing. Never rejects. */
  private async attempt(delivery: Claimed, target: TargetRow | undefined): Promise<void> {
    let result: SendResult;
    if (!target) {
      // Deleted between the claim and now: the delivery went with it (FK cascade); nothing to record.
      return;
    }
    const to: SendTarget = {
      url: target.payload_url,
      sslVerification: Boolean(target.ssl_verification),
      secrets: secretsOf(target),
      owner: target.created_by ?? target.organization_id,
    };
    try {
      result = await this.sender.send(to, { eventId: delivery.eventId, eventType: delivery.eventType, body: Buffer.from(delivery.payload, 'utf8') });
    } catch (error) {
      // The sender reports every failure as a result; a throw is a bug, recorded like a connection error.
      result = {
        request: { url: to.url, headers: {} },
        startedAt: new Date(),
        durationMs: 0,
        status: null,
        responseBody: null,
        errorClass: DeliveryErrorClass.Connect,
        error: error instanceof Error ? error.message : String(error),
        success: false,
        gone: false,
        retryAfterMs: null,
      };
    }
    if (this.released) return;
    this.outcomes.push({ delivery, result });
    this.unrecorded += 1;
    // Written once this event-loop turn's answers are all in: they share one commit.
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
  }

  /**
   * Writes every queued outcome in one transaction, then whatever queued up meanwhile. On SQLite the
   * same transaction claims the next deliveries for the slots it frees: every SQLite commit is a
   * WAL fsync on the event loop (better-sqlite3 is synchronous), so one commit instead of two per
   * turn is the largest single saving in delivery throughput.
   */
  private async flush(): Promise<void> {
    while (this.outcomes.length > 0) {
      const batch = this.outcomes.splice(0);
      for (let attempt = 1; ; attempt++) {
        try {
          // Counted once committed; a transaction that runs again counts afresh.
          let counted: WebhookDeliveryOutcome[] = [];
          const { retryAt, next } = await this.reserving((hold) =>
            this.transactions.run(async (em) => {
              const retryAt = await this.writeOutcomes(em, batch, (counted = []));
              const next = this.postgres || this.stopping || !this.wantsClaim(batch.length) ? NO_CLAIM : await this.claim(em, hold, batch.length);
              return { retryAt, next };
            }, BOOKKEEPING),
          );
          this.unrecorded -= batch.length;
          // A 410 disabled its subscription: what was claimed ahead for it waits, pending, for it to be enabled again.
          const gone = new Set(batch.filter((o) => o.result.gone).map((o) => o.delivery.subscriptionId));
          if (gone.size > 0) {
            for (let i = this.ready.length - 1; i >= 0; i--) {
              if (gone.has(this.ready[i].delivery.subscriptionId)) this.returnUnstarted(this.ready.splice(i, 1)[0].delivery);
            }
          }
          this.logEndings(batch, counted);
          this.enqueue(next);
          this.metrics?.webhookDelivered(counted);
          this.scheduleWake(retryAt);
          break;
        } catch (error) {
          if (!isConcurrencyConflict(error) || attempt >= OUTCOME_WRITE_ATTEMPTS) {
            // Left `delivering`: their claims expire and the deliveries are attempted again, as after a crash.
            this.unrecorded -= batch.length;
            this.logger.error({ err: error }, `${batch.length} webhook delivery outcomes not recorded; their claims expire and they are attempted again`);
            this.pump();
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
        }
      }
    }
    this.flushing = null;
    this.wakeup.notify();
  }

  /** Once committed: a line for each delivery that went to dead letter and each subscription a 410 disabled. */
  private logEndings(batch: Outcome[], counted: WebhookDeliveryOutcome[]): void {
    batch.forEach(({ delivery, result }, i) => {
      if (counted[i] !== 'failed' && counted[i] !== 'gone') return;
      const ids = { deliveryId: delivery.id, eventId: delivery.eventId, subscriptionId: delivery.subscriptionId, attempts: delivery.attempts };
      this.logger.warn({ ...ids, status: result.status, errorClass: result.errorClass }, `webhook delivery ${delivery.id} failed for good (dead letter) after ${delivery.attempts} attempt(s): ${describe(result)}`);
      if (counted[i] === 'gone') {
        this.logger.warn({ subscriptionId: delivery.subscriptionId }, `webhook subscription ${delivery.subscriptionId} disabled: its receiver answered 410 Gone`);
      }
    });
  }

  /** Wakes the loop when the earliest retry written comes due, if that is sooner than the poll. */
  private scheduleWake(at: number | null): void {
    if (at === null || this.stopping) return;
    const delay = at - Date.now();
    if (delay >= this.config.pollMs) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.wakeup.notify();
    }, Math.max(0, delay));
    timer.unref();
    this.timers.add(timer);
  }

  /** Records the outcomes, each fenced by its claim, adding each to `counted`; returns the earliest retry time written. */
  private async writeOutcomes(em: EntityManager, batch: Outcome[], counted: WebhookDeliveryOutcome[]): Promise<number | null> {
    const now = new Date();
    let earliestRetry: number | null = null;
    const rows = batch.map(({ delivery, result }): OutcomeRow => {
      const change = this.stateAfter(delivery, result, now);
      if (change.state === DeliveryState.Pending) earliestRetry = Math.min(earliestRetry ?? Infinity, change.nextAttemptAt.getTime());
      return {
        delivery,
        result,
        state: change.state,
        nextAttemptAt: change.nextAttemptAt,
        lastError: result.success ? null : describe(result),
        completedAt: change.state === DeliveryState.Pending ? null : now,
      };
    });
    const applied = await this.updateBatch(em, rows, now);
    const attempts: unknown[][] = [];
    const audited: AuditEntry[] = [];
    for (const row of rows) {
      const { delivery, result } = row;
      if (!applied.has(delivery.id)) {
        counted.push('lost_claim');
        this.logger.warn(`webhook delivery ${delivery.id}: claim lost before its outcome was recorded (another worker owns it now)`);
        continue;
      }
      counted.push(row.state === DeliveryState.Succeeded ? 'succeeded' : row.state === DeliveryState.Pending ? 'retry' : result.gone ? 'gone' : 'failed');
      attempts.push([
        newRowId(),
        delivery.id,
        delivery.attempts,
        result.startedAt,
        Math.round(result.durationMs),
        result.status,
        result.responseBody === null ? null : storable(result.responseBody),
        result.success ? null : result.errorClass,
        result.error === null ? null : storable(result.error.slice(0, MAX_ERROR_LENGTH)),
        result.success,
        result.request.url,
        JSON.stringify(result.request.headers),
      ]);
      // The attempt's audit record (src/audit), caused by the delivery's (whose id is the delivery's).
      audited.push({
        at: now,
        kind: AuditKind.DeliveryAttempt,
        name: delivery.eventType,
        outcome: result.success ? AuditOutcome.Ok : AuditOutcome.Failed,
        code: result.status !== null ? String(result.status) : result.errorClass,
        organizationId: delivery.organizationId ?? null,
        eventId: delivery.eventId,
        deliveryId: delivery.id,
        causeId: delivery.id,
        durationMs: result.durationMs,
        detail: { attempt: delivery.attempts, state: row.state },
      });
      if (result.gone) {
        await executeSql(
          em,
          `UPDATE webhook_subscriptions SET enabled = ?, disabled_reason = ?, disabled_at = ?, updated_at = ? WHERE id = ? AND enabled = ?`,
          [false, `the receiver answered 410 Gone at ${now.toISOString()}`, now, now, delivery.subscriptionId, true],
        );
      }
    }
    for (let i = 0; i < attempts.length; i += 100) {
      const slice = attempts.slice(i, i + 100);
      await executeSql(
        em,
        `INSERT INTO webhook_delivery_attempts
           (id, delivery_id, attempt, started_at, duration_ms, status_code, response_body, error_class, error, success, request_url, request_headers)
         VALUES ${slice.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        slice.flat(),
      );
    }
    await this.recordHealth(em, rows.filter((row) => applied.has(row.delivery.id)));
    await this.audit.record(em, audited);
    return earliestRetry;
  }

  /**
   * Endpoint health (WebhookHealthJob): a subscription whose latest attempt of the batch succeeded
   * is not failing; one whose latest failed is failing since its first failure after its last
   * success, or since earlier when it already was. Two statements a batch at most, whatever its size.
   */
  private async recordHealth(em: EntityManager, rows: OutcomeRow[]): Promise<void> {
    if (rows.length === 0) return;
    const bySubscription = new Map<string, OutcomeRow[]>();
    for (const row of rows) {
      const list = bySubscription.get(row.delivery.subscriptionId);
      if (list) list.push(row);
      else bySubscription.set(row.delivery.subscriptionId, [row]);
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

  /**
   * Each outcome's row, fenced by its claim's attempt number; the ids applied. PostgreSQL: the whole
   * batch in one UPDATE (one round trip). SQLite: one prepared UPDATE per row, straight on the
   * connection (in-process, a few microseconds each: cheaper than SQLite's JSON functions).
   */
  private async updateBatch(em: EntityManager, rows: OutcomeRow[], now: Date): Promise<Set<string>> {
    if (!this.postgres) return this.updateEachSqlite(em, rows, now);
    const date = (d: Date | null): string | null => (d === null ? null : d.toISOString());
    const values = JSON.stringify(
      rows.map((row) => ({
        delivery_id: row.delivery.id,
        claim: row.delivery.attempts,
        state: row.state,
        next_attempt_at: date(row.nextAttemptAt),
        last_status: row.result.status,
        last_error: row.lastError,
        completed_at: date(row.completedAt),
      })),
    );
    const updated = await selectSql<{ id: string }>(
      em,
      `UPDATE webhook_deliveries AS d
          SET state = v.state, next_attempt_at = v.next_attempt_at, locked_until = NULL, last_status = v.last_status,
              last_error = v.last_error, completed_at = v.completed_at, updated_at = ?
         FROM jsonb_to_recordset(?::jsonb)
           AS v(delivery_id varchar, claim integer, state varchar, next_attempt_at timestamptz, last_status integer, last_error text, completed_at timestamptz)
        WHERE d.id = v.delivery_id AND d.state = '${DeliveryState.Delivering}' AND d.attempts = v.claim
        RETURNING d.id`,
      [now, values],
    );
    return new Set(updated.map((r) => r.id));
  }

  private updateEachSqlite(em: EntityManager, rows: OutcomeRow[], now: Date): Set<string> {
    const update = sqliteStatement(
      em,
      `UPDATE webhook_deliveries
          SET state = ?, next_attempt_at = ?, locked_until = NULL, last_status = ?, last_error = ?, completed_at = ?, updated_at = ?
        WHERE id = ? AND state = '${DeliveryState.Delivering}' AND attempts = ?`,
    );
    const applied = new Set<string>();
    const at = toSqliteDate(now);
    for (const { delivery, state, nextAttemptAt, result, lastError, completedAt } of rows) {
      const { changes } = update.run(state, toSqliteDate(nextAttemptAt), result.status, lastError, completedAt === null ? null : at, at, delivery.id, delivery.attempts);
      if (changes > 0) applied.add(delivery.id);
    }
    return applied;
  }

  private stateAfter(delivery: Claimed, result: SendResult, now: Date): { state: DeliveryState; nextAttemptAt: Date } {
    if (result.success) return { state: DeliveryState.Succeeded, nextAttemptAt: now };
    // 410: the receiver is gone for good (the subscription is disabled); a refused address will not become allowed by retrying.
    if (result.gone || result.errorClass === DeliveryErrorClass.Blocked || delivery.attempts >= this.config.maxAttempts) {
      return { state: DeliveryState.Failed, nextAttemptAt: now };
    }
    const delay = backoffDelayMs(delivery.attempts, result.retryAfterMs, { baseMs: this.config.backoffBaseMs, maxMs: this.config.backoffMaxMs });
    return { state: DeliveryState.Pending, nextAttemptAt: new Date(now.getTime() + delay) };
  }

  /**
   * Claims due deliveries of enabled subscriptions for the free slots, at most the per-subscription
   * share for each: first those whose claim expired (a worker died), then pending ones whose time has
   * come, oldest first. The candidates are read, chosen here, and claimed by one UPDATE whose WHERE is
   * checked again on every row, so a row another worker claimed meanwhile is skipped. The claimed
   * ones are reserved through `hold` before this returns. A subscription holds at most twice its
   * share: its slots, and as many claimed ahead. `writing`: outcomes the same transaction records.
   */
  private async claim(em: EntityManager, hold: (claim: Claim) => void, writing = 0): Promise<Claim> {
    const free = this.freeSlots(writing);
    if (free <= 0) return NO_CLAIM;
    const share = this.perSubscription;
    const limit = 2 * this.config.concurrencyPerSubscription;
    const now = new Date();
    const saturated = [...share].filter(([, n]) => n >= limit).map(([id]) => id);
    const notIn = saturated.length > 0 ? `NOT IN (${saturated.map(() => '?').join(', ')})` : null;
    const exclude = notIn ? `AND d.subscription_id ${notIn}` : '';
    const enabled = 'JOIN webhook_subscriptions s ON s.id = d.subscription_id AND s.enabled = ?';
    // Expired claims first (their worker died), looked for once per poll interval: claims expire
    // only when a worker dies or stalls, and the look costs a statement on every claim otherwise.
    let expired: Array<{ id: string; subscription_id: string }> = [];
    if (now.getTime() - this.lastExpiredScan >= this.config.pollMs) {
      this.lastExpiredScan = now.getTime();
      expired = await selectSql<{ id: string; subscription_id: string }>(
        em,
        `SELECT d.id, d.subscription_id FROM webhook_deliveries d ${enabled}
          WHERE d.state = '${DeliveryState.Delivering}' AND d.locked_until < ? ${exclude} ORDER BY d.locked_until LIMIT ${free}`,
        [true, now, ...saturated],
      );
      // A full page: there may be more; look again at the next claim.
      if (expired.length >= free) this.lastExpiredScan = 0;
    }
    // Then pending ones, picked per subscription (index on subscription, state, due time): the
    // subscriptions with work due, oldest first, then each one's oldest due rows up to its share.
    // A scan of the due index in time order would have to step over every due row of a saturated
    // subscription (a hanging receiver's backlog) on every claim.
    const subscriptions = await selectSql<{ id: string }>(
      em,
      `SELECT id FROM (
         SELECT s.id, (SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d WHERE d.subscription_id = s.id AND d.state = '${DeliveryState.Pending}') AS due
           FROM webhook_subscriptions s WHERE s.enabled = ? ${notIn ? `AND s.id ${notIn}` : ''}
       ) t WHERE due <= ? ORDER BY due LIMIT ${Math.min(free, MAX_SUBSCRIPTIONS_PER_CLAIM)}`,
      [true, ...saturated, now],
    );
    const shareLeft = (id: string): number => limit - (share.get(id) ?? 0);
    const pending =
      subscriptions.length === 0
        ? []
        : await selectSql<{ id: string; subscription_id: string; next_attempt_at: Date | string }>(
            em,
            subscriptions
              .map(
                (sub, i) =>
                  `SELECT * FROM (SELECT id, subscription_id, next_attempt_at FROM webhook_deliveries
                     WHERE subscription_id = ? AND state = '${DeliveryState.Pending}' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ${Math.min(free, shareLeft(sub.id))}) p${i}`,
              )
              .join(' UNION ALL '),
            subscriptions.flatMap((sub) => [sub.id, now]),
          );
    // Ties by id (UUIDv7, in creation order): a re-enabled subscription's held deliveries, due at
    // their creation time (WebhookSubscriptionsService.update), go out in the order they were made.
    pending.sort((x, y) => fromDbDate(x.next_attempt_at).getTime() - fromDbDate(y.next_attempt_at).getTime() || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    const candidates = [...expired, ...pending];
    const room = new Map<string, number>();
    const chosen: string[] = [];
    for (const c of candidates) {
      if (chosen.length >= free) break;
      const left = room.get(c.subscription_id) ?? shareLeft(c.subscription_id);
      if (left <= 0) continue;
      room.set(c.subscription_id, left - 1);
      chosen.push(c.id);
    }
    if (chosen.length === 0) return NO_CLAIM;
    const rows = await selectSql<ClaimedRow>(
      em,
      // IS TRUE keeps SQLite on the primary key for the IN list instead of the due index.
      `UPDATE webhook_deliveries
          SET state = ?, attempts = attempts + 1, locked_until = ?, updated_at = ?
        WHERE id IN (${chosen.map(() => '?').join(', ')})
          AND ((state = ? AND next_attempt_at <= ?) OR (state = ? AND locked_until < ?)) IS TRUE
        RETURNING id, subscription_id, event_id, event_type, payload, attempts`,
      [DeliveryState.Delivering, new Date(now.getTime() + this.claimTtlMs), now, ...chosen, DeliveryState.Pending, now, DeliveryState.Delivering, now],
    );
    const claimedAt = Date.now();
    // In the order chosen (RETURNING has none): they start in this order.
    const rank = new Map(chosen.map((id, i) => [id, i]));
    rows.sort((x, y) => (rank.get(x.id) ?? 0) - (rank.get(y.id) ?? 0));
    const claimed = rows.map(
      (r): Claimed => ({
        claimedAt,
        id: r.id,
        subscriptionId: r.subscription_id,
        eventId: r.event_id,
        eventType: r.event_type,
        payload: r.payload,
        attempts: Number(r.attempts),
      }),
    );
    const ids = [...new Set(claimed.map((c) => c.subscriptionId))];
    const targets =
      ids.length === 0
        ? []
        : await selectSql<TargetRow>(
            em,
            `SELECT id, organization_id, created_by, payload_url, secret, previous_secret, previous_secret_expires_at, ssl_verification
               FROM webhook_subscriptions WHERE id IN (${ids.map(() => '?').join(', ')})`,
            ids,
          );
    const claim = { claimed, targets: new Map(targets.map((t) => [t.id, t])) };
    for (const c of claimed) c.organizationId = claim.targets.get(c.subscriptionId)?.organization_id ?? null;
    hold(claim);
    return claim;
  }
}

/** One fewer held in `counts` for the subscription. */
function release(counts: Map<string, number>, subscriptionId: string): void {
  const left = (counts.get(subscriptionId) ?? 1) - 1;
  if (left > 0) counts.set(subscriptionId, left);
  else counts.delete(subscriptionId);
}

/** The secrets a delivery is signed with: the current one, then the previous one while its overlap lasts. */
export function secretsOf(target: Pick<TargetRow, 'secret' | 'previous_secret' | 'previous_secret_expires_at'>, now = Date.now()): string[] {
  const secrets: string[] = [];
  if (target.secret) secrets.push(target.secret);
  if (target.previous_secret && target.previous_secret_expires_at && fromDbDate(target.previous_secret_expires_at).getTime() > now) {
    secrets.push(target.previous_secret);
  }
  return secrets;
}

/** What PostgreSQL cannot store in text (NUL) or in jsonb (a lone UTF-16 surrogate). */
// eslint-disable-next-line no-control-regex -- NUL is exactly what is looked for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * U+FFFD for what PostgreSQL refuses: a receiver's answer and an error text may hold anything, and
 * one such outcome would otherwise fail the whole batch it is written with, again and again.
 */
const storable = (text: string): string => text.replace(UNSTORABLE, '\uFFFD');

function describe(result: SendResult): string {
  const what = result.error ?? (result.status !== null ? `HTTP ${result.status}` : 'failed');
  return storable(`${result.errorClass ?? 'http'}: ${what}`.slice(0, MAX_ERROR_LENGTH));
}

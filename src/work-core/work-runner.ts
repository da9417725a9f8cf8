import { Logger } from '@nestjs/common';
import type { Registry } from 'prom-client';
import type { DataSource, EntityManager } from 'typeorm';
import { backoffDelayMs } from '../common/backoff';
import { Wakeup } from '../common/wakeup';
import type { TransactionOptions, TransactionRunner } from '../database/transaction-runner.service';
import { fromDbDate } from '../database/raw-dates';
import { isConcurrencyConflict } from '../database/unique-violation';
import { WorkMetrics } from './work-metrics';
import type { Settled, WorkItem, WorkOutcome, WorkProcessor, WorkQueueTable, WorkRunnerOptions } from './work-queue';
import { ClaimedRow, SettleRow, WorkSql } from './work-sql';

/** Attempts at writing a batch of outcomes before leaving its rows to their leases' expiry. */
const OUTCOME_WRITE_ATTEMPTS = 3;
/**
 * How long a row claimed ahead may wait for a slot of its key (ms), unless the runner is told
 * otherwise. Longer (the key's attempts are hanging), it is given back: what `prepare` read at the
 * claim may be stale by the time it starts.
 */
const READY_MAX_WAIT_MS = 1000;
/**
 * Claims, renewals and outcomes commit asynchronously (no log flush wait): losing the last of them to
 * a power loss only makes a row be attempted again, which at-least-once allows.
 */
const BOOKKEEPING: TransactionOptions = { asyncCommit: true };

type Claim<Row, Context> = WorkItem<Row, Context>[];

/**
 * Runs one durable queue (docs/work-core.md): claims due rows with a lease, attempts them through
 * its processor with bounded concurrency overall and per key, renews the leases it holds, and
 * writes outcomes fenced by the attempt number, in one transaction per batch (a group commit).
 *
 * Pipelining: a slot is an attempt in flight. Rows are claimed ahead (`ready`), so a freed slot
 * starts the next attempt at once, and outcomes are written behind. The runner holds at most twice
 * its slots' worth of leases, and no attempt starts while those in flight and those unrecorded
 * reach twice the slots, so a crash repeats at most 2 × concurrency attempts (with `slotUntilRecorded`, a
 * slot is freed only once its outcome is written: at most `concurrency`). Leases never started
 * are given back on shutdown, or expire after a crash (late, not repeated); a live runner renews
 * its leases every third of their length, so a dead one's are taken over within one lease.
 */
export class WorkRunner<Row, Context, Result> {
  private readonly logger: Logger;
  private readonly wakeup = new Wakeup();
  private readonly sql: WorkSql;
  private readonly metrics: WorkMetrics;
  /** Every lease held: ahead, in flight, unrecorded, being given back. */
  private readonly leases = new Map<string, WorkItem<Row, Context>>();
  /** Attempts running: the slots. */
  private readonly inflight = new Map<string, Promise<void>>();
  /** Per attempt running: aborted when its lease is lost or given back. */
  private readonly aborts = new Map<string, AbortController>();
  /** Claimed and committed, not started yet, oldest first. */
  private readonly ready: WorkItem<Row, Context>[] = [];
  /** Claims in a transaction not committed yet. */
  private reserved = 0;
  /** Per key: leases held (reserved, ready, in flight), bounded by twice its share. */
  private readonly perKey = new Map<string, number>();
  /** Per key: attempts in flight, bounded by its share. */
  private readonly inflightPerKey = new Map<string, number>();
  private readonly outcomes: Array<{ item: WorkItem<Row, Context>; result: Result }> = [];
  /** Outcomes queued or being written. */
  private unrecorded = 0;
  private readonly returning: WorkItem<Row, Context>[] = [];
  private givingBack: Promise<void> | null = null;
  private flushing: Promise<void> | null = null;
  private renewing: Promise<void> | null = null;
  private pumpScheduled = false;
  /** Set once shutdown gave the leases in flight back: their late outcomes are not written. */
  private released = false;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private stopped: Promise<void> | null = null;
  /** A pass (see start): epoch ms after which nothing more is claimed; null: run until stopped. */
  private until: number | null = null;
  /** With `retriesFirst`: rows this runner put back for a retry, and when they come due (ms). */
  private readonly retries = new Map<string, number>();
  /** Outcomes to write one per transaction (a batch of them failed: one value may be what the database refuses). */
  private solo = 0;
  private renewTimer: NodeJS.Timeout | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: TransactionRunner,
    private readonly table: WorkQueueTable,
    private readonly processor: WorkProcessor<Row, Context, Result>,
    private readonly options: WorkRunnerOptions,
    registry: Registry,
  ) {
    this.logger = new Logger(`WorkRunner:${table.name}`);
    this.sql = new WorkSql(table, dataSource.options.type, options.pollMs);
    this.metrics = WorkMetrics.for(registry);
  }

  /**
   * Starts claiming. With `until` (epoch ms), a pass: the loop ends once nothing is held and no row
   * comes due before `until` (or at `until`), and `finished()` resolves then; a failed claim ends it
   * too, `finished()` rejecting with the error. Without, it runs until `stop()`.
   */
  start(until?: number): void {
    this.until = until ?? null;
    this.loop = this.run();
    this.renewTimer = setInterval(() => this.renew(), Math.max(100, Math.floor(this.options.leaseMs / 3)));
    this.renewTimer.unref();
  }

  /** When the claiming loop has ended (a pass is over, or stop() was called); the attempts in flight may still run. */
  finished(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** New due rows were committed (in this process): look at once rather than at the next poll. */
  notify(): void {
    this.wakeup.notify();
  }

  /**
   * Stops claiming and lets the attempts in flight finish and be recorded, for at most the grace;
   * the leases of those still running are then given back (due now), and those never started as if
   * never claimed, so that nothing stays leased after the process is gone.
   */
  stop(): Promise<void> {
    return (this.stopped ??= this.halt());
  }

  private async halt(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.wakeup.notify();
    await this.loop?.catch(() => undefined);
    let graceTimer: NodeJS.Timeout | undefined;
    const drained =
      this.inflight.size === 0 ||
      (await Promise.race([
        Promise.all(this.inflight.values()).then(() => true),
        new Promise<boolean>((resolve) => (graceTimer = setTimeout(() => resolve(false), this.options.shutdownGraceMs))),
      ]));
    clearTimeout(graceTimer);
    const interrupted = drained ? [] : [...this.inflight.keys()].map((id) => this.leases.get(id)).filter((i): i is WorkItem<Row, Context> => i !== undefined);
    if (!drained) this.released = true;
    // Outcomes already queued are written within what is left of the grace; a late one of an interrupted attempt is not.
    const deadline = Date.now() + (drained ? this.options.shutdownGraceMs : 0) + 1000;
    while ((this.flushing || this.givingBack) && Date.now() < deadline) {
      await Promise.race([Promise.all([this.flushing, this.givingBack]), new Promise((resolve) => setTimeout(resolve, deadline - Date.now()))]);
    }
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.renewing;
    const unstarted = this.ready.splice(0);
    for (const item of unstarted) this.forget(item);
    if (unstarted.length === 0 && interrupted.length === 0) return;
    try {
      await this.transactions.run(async (em) => {
        const now = new Date();
        await this.sql.giveBack(em, unstarted, false, now);
        await this.sql.giveBack(em, interrupted, true, now);
      });
      this.metrics.ended.inc({ queue: this.table.name, outcome: 'given_back' }, unstarted.length);
      this.metrics.ended.inc({ queue: this.table.name, outcome: 'interrupted' }, interrupted.length);
      if (interrupted.length > 0) this.logger.warn(`shutdown: ${interrupted.length} ${this.table.name} attempts still in flight were given back for another attempt`);
    } catch (error) {
      this.logger.error({ err: error }, `shutdown: the ${this.table.name} leases held could not be given back; they expire on their own`);
    } finally {
      // Cut, not completed: they run again from the start.
      for (const item of interrupted) this.aborts.get(item.id)?.abort();
    }
  }

  private async run(): Promise<void> {
    const pass = this.until;
    while (!this.stopping && (pass === null || Date.now() < pass)) {
      const idle = this.idle();
      // SQLite: a write of outcomes on its way claims in its own transaction (one commit, not two).
      const free = this.wantsClaim() && (this.sql.isPostgres || this.flushing === null) ? this.freeSlots() : 0;
      let claimed = 0;
      if (free > 0) {
        try {
          claimed = await this.claimAndStart();
        } catch (error) {
          if (pass !== null && !isConcurrencyConflict(error)) throw error;
          if (!isConcurrencyConflict(error)) this.logger.error({ err: error }, `claiming ${this.table.name} failed; retrying at the next poll`);
        }
      }
      if (this.stopping) break;
      // A full claim may leave more due: look again at once.
      if (free > 0 && claimed >= free) continue;
      let wait = this.options.pollMs;
      if (pass !== null) {
        // A pass ends when nothing is held, before and after a claim that found nothing (an outcome
        // written meanwhile may have put a row back for a retry the claim did not see), and nothing
        // comes due before its end.
        if (claimed === 0 && idle && this.idle()) {
          const next = await this.sql.nextDue(this.dataSource.manager);
          if (next === null || next.getTime() >= pass) break;
          wait = Math.min(wait, Math.max(0, next.getTime() - Date.now()));
        }
        wait = Math.min(wait, Math.max(0, pass - Date.now()));
      }
      // Wait for a slot, a signal or the poll.
      await this.wakeup.wait(wait);
    }
  }

  /** Nothing held: no lease claimed, in flight, unrecorded or being given back. */
  private idle(): boolean {
    return this.leases.size === 0 && this.reserved === 0 && this.unrecorded === 0 && this.returning.length === 0 && this.flushing === null;
  }

  /** With `retriesFirst`: up to `free` of this runner's retries that are due, soonest first (no longer tracked once asked for). */
  private dueRetries(now: number, free: number): string[] {
    if (this.retries.size === 0) return [];
    const first = [...this.retries]
      .filter(([, dueAt]) => dueAt <= now)
      .sort((a, b) => a[1] - b[1])
      .slice(0, free)
      .map(([id]) => id);
    for (const id of first) this.retries.delete(id);
    return first;
  }

  /** Leases this runner may still take. `writing`: outcomes the current transaction has just written. */
  private freeSlots(writing = 0): number {
    return 2 * this.options.concurrency - this.inflight.size - this.ready.length - this.reserved - this.unrecorded - this.returning.length + writing;
  }

  /** Whether a claim is worth its statements now: a quarter of the slots' worth is free, or nothing is ready for a free slot. */
  private wantsClaim(writing = 0): boolean {
    const free = this.freeSlots(writing);
    if (free <= 0) return false;
    return free >= (this.options.claimAtLeast ?? Math.ceil(this.options.concurrency / 4)) || (this.ready.length === 0 && this.inflight.size < this.options.concurrency);
  }

  private async claimAndStart(): Promise<number> {
    const started = process.hrtime.bigint();
    // PostgreSQL: one statement, then the processor's reads, straight from the pool (no transaction
    // needed: the claim commits on its own); SQLite: through the one connection's queue.
    const claim = await this.reserving((hold) =>
      this.sql.isPostgres && !this.options.prepareWrites
        ? this.claim(this.dataSource.manager, hold)
        : this.transactions.run((em) => this.claim(em, hold), BOOKKEEPING),
    );
    this.metrics.claimSeconds.observe({ queue: this.table.name }, Number(process.hrtime.bigint() - started) / 1e9);
    this.enqueue(claim);
    return claim.length;
  }

  /** Runs `work`, which claims and reserves through `hold`; if it fails after a claim (rolled back), the reservation is undone. */
  private async reserving<T>(work: (hold: (claim: Claim<Row, Context>) => void) => Promise<T>): Promise<T> {
    let held: Claim<Row, Context> | null = null;
    try {
      return await work((claim) => {
        if (held) this.unreserve(held);
        held = claim;
        this.reserved += claim.length;
        for (const item of claim) add(this.perKey, item.key, 1);
      });
    } catch (error) {
      if (held) this.unreserve(held);
      throw error;
    }
  }

  private unreserve(claim: Claim<Row, Context>): void {
    this.reserved -= claim.length;
    for (const item of claim) add(this.perKey, item.key, -1);
  }

  /** A committed claim: its items move from reserved to ready (and held), and those that can start do. */
  private enqueue(claim: Claim<Row, Context>): void {
    this.reserved -= claim.length;
    for (const item of claim) {
      this.leases.set(item.id, item);
      this.ready.push(item);
    }
    if (claim.length > 0) this.metrics.claimed.inc({ queue: this.table.name }, claim.length);
    this.gauge();
    this.pump();
  }

  private async claim(em: EntityManager, hold: (claim: Claim<Row, Context>) => void, writing = 0): Promise<Claim<Row, Context>> {
    const free = this.freeSlots(writing);
    if (free <= 0) return [];
    const now = new Date();
    this.options.onClaim?.();
    const first = this.dueRetries(now.getTime(), free);
    const rows = await this.sql.claim(em, { free, held: this.perKey, keyLimit: 2 * this.options.perKeyLimit, now, leaseUntil: new Date(now.getTime() + this.options.leaseMs), first });
    const claimedAt = Date.now();
    const { onLateness } = this.options;
    if (onLateness && rows.length > 0) onLateness(Math.max(0, Math.min(...rows.map((r) => claimedAt - fromDbDate(r.work_due).getTime()))));
    // Nothing due; but a key holding all the leases it may has due rows the claim left alone: no news then.
    else if (onLateness && ![...this.perKey.values()].some((n) => n >= 2 * this.options.perKeyLimit)) onLateness(0);
    const claim = rows.map((r: ClaimedRow): WorkItem<Row, Context> => ({ id: r.id, key: r.work_key, attempts: Number(r.attempts), claimedAt, row: r as unknown as Row }));
    if (claim.length > 0) await this.processor.prepare(em, claim);
    hold(claim);
    return claim;
  }

  /** Starts ready items, oldest first, while a slot is free, their key is under its share and the unrecorded stay bounded. */
  private pump(): void {
    if (this.stopping) return;
    const { concurrency, perKeyLimit } = this.options;
    const now = Date.now();
    for (let i = 0; i < this.ready.length; ) {
      const item = this.ready[i];
      if (now - item.claimedAt > (this.options.readyMaxWaitMs ?? READY_MAX_WAIT_MS)) {
        this.ready.splice(i, 1);
        this.returnUnstarted(item);
        continue;
      }
      if (this.inflight.size >= concurrency || this.inflight.size + this.unrecorded >= (this.options.slotUntilRecorded ? 1 : 2) * concurrency || (this.inflightPerKey.get(item.key) ?? 0) >= perKeyLimit) {
        i++;
        continue;
      }
      this.ready.splice(i, 1);
      this.begin(item);
    }
    this.gauge();
  }

  /** Pumps once this turn's answers are all in: the next attempts go out together rather than one per answer. */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
      if (this.wantsClaim()) this.wakeup.notify();
    });
  }

  /** No longer held here (the lease's row is written, given back, or lost). */
  private forget(item: WorkItem<Row, Context>): void {
    this.leases.delete(item.id);
    add(this.perKey, item.key, -1);
  }

  /** Hands an unstarted item back (pending, its attempt not counted), batched with others. */
  private returnUnstarted(item: WorkItem<Row, Context>): void {
    add(this.perKey, item.key, -1);
    this.returning.push(item);
    this.givingBack ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.giveBack());
  }

  private async giveBack(): Promise<void> {
    while (this.returning.length > 0) {
      const batch = this.returning.slice();
      try {
        await this.transactions.run((em) => this.sql.giveBack(em, batch, false, new Date()), BOOKKEEPING);
        this.metrics.ended.inc({ queue: this.table.name, outcome: 'given_back' }, batch.length);
      } catch (error) {
        this.logger.error({ err: error }, `${batch.length} ${this.table.name} leases taken ahead could not be given back; they expire on their own`);
      }
      this.returning.splice(0, batch.length);
      for (const item of batch) this.leases.delete(item.id);
    }
    this.givingBack = null;
    this.wakeup.notify();
  }

  /** Starts one attempt; its slot is freed when it ends, its outcome written behind. */
  private begin(item: WorkItem<Row, Context>): void {
    add(this.inflightPerKey, item.key, 1);
    const abort = new AbortController();
    this.aborts.set(item.id, abort);
    const attempt = this.attempt(item, abort.signal).finally(() => {
      this.inflight.delete(item.id);
      this.aborts.delete(item.id);
      add(this.inflightPerKey, item.key, -1);
      add(this.perKey, item.key, -1);
      this.pumpSoon();
    });
    this.inflight.set(item.id, attempt);
  }

  private async attempt(item: WorkItem<Row, Context>, signal: AbortSignal): Promise<void> {
    if (item.context === undefined) {
      // Its context went between the claim and now (the row with it, by cascade): nothing to record.
      this.leases.delete(item.id);
      return;
    }
    const result = await this.processor.perform(item, signal);
    if (this.released) return;
    this.outcomes.push({ item, result });
    this.unrecorded += 1;
    // Written once this turn's results are all in: they share one commit.
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
  }

  /**
   * Writes every queued outcome in one transaction, then whatever queued meanwhile. On SQLite the
   * same transaction claims for the slots it frees: each SQLite commit is a WAL write on the event
   * loop, so one commit instead of two per turn.
   */
  private async flush(): Promise<void> {
    while (this.outcomes.length > 0) {
      const batch = this.outcomes.splice(0, this.solo > 0 ? 1 : this.outcomes.length);
      if (this.solo > 0) this.solo -= 1;
      /** SQLite: a claim rides along with the outcomes (until it fails: then they go alone). */
      let rideAlong = true;
      for (let attempt = 1; ; attempt++) {
        const started = process.hrtime.bigint();
        let claiming = false;
        try {
          let written: WorkOutcome<Row, Context, Result>[] = [];
          // PostgreSQL, when the settle statement is all the batch writes: that statement alone, autocommitted.
          const next =
            this.sql.isPostgres && this.processor.settlesAlone?.(batch)
              ? await this.write(this.dataSource.manager, batch).then((w): Claim<Row, Context> => ((written = w), []))
              : await this.reserving((hold) =>
                  this.transactions.run(async (em) => {
                    written = await this.write(em, batch);
                    if (this.sql.isPostgres || !rideAlong || this.stopping || !this.wantsClaim(batch.length)) return [];
                    claiming = true;
                    return this.claim(em, hold, batch.length);
                  }, BOOKKEEPING),
                );
          this.metrics.writeSeconds.observe({ queue: this.table.name }, Number(process.hrtime.bigint() - started) / 1e9);
          this.unrecorded -= batch.length;
          for (const { item } of batch) this.leases.delete(item.id);
          for (const o of written) {
            this.metrics.ended.inc({ queue: this.table.name, outcome: o.applied ? o.settled : 'lost_lease' });
            if (this.options.retriesFirst && o.applied && o.settled === 'retry') this.retries.set(o.item.id, o.nextAttemptAt.getTime());
          }
          const dropped = new Set(this.processor.committed?.(written) ?? []);
          for (let i = this.ready.length - 1; i >= 0; i--) if (dropped.has(this.ready[i].key)) this.returnUnstarted(this.ready.splice(i, 1)[0]);
          this.enqueue(next);
          this.scheduleWake(written);
          break;
        } catch (error) {
          if (claiming && !isConcurrencyConflict(error)) {
            // The claim riding along failed, not the outcomes: they are written alone, and the
            // loop's own claim meets the error again (where a pass fails, and a loop logs it).
            rideAlong = false;
            continue;
          }
          if (!isConcurrencyConflict(error) && batch.length > 1) {
            // One value of one outcome may be what the database refuses: each on its own, so that the others are written.
            this.outcomes.unshift(...batch);
            this.solo += batch.length;
            break;
          }
          if (!isConcurrencyConflict(error) || attempt >= OUTCOME_WRITE_ATTEMPTS) {
            // Left leased: the leases expire (no longer renewed) and the rows are attempted again, as after a crash.
            this.unrecorded -= batch.length;
            for (const { item } of batch) this.leases.delete(item.id);
            this.logger.error({ err: error }, `${batch.length} ${this.table.name} outcomes not recorded; their leases expire and they are attempted again`);
            this.pump();
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
        }
      }
    }
    this.flushing = null;
    this.gauge();
    this.wakeup.notify();
  }

  /** Settles a batch: each row fenced by its lease, then the processor's writes, in the caller's transaction. */
  private async write(em: EntityManager, batch: Array<{ item: WorkItem<Row, Context>; result: Result }>): Promise<WorkOutcome<Row, Context, Result>[]> {
    const now = new Date();
    const states: Record<Settled, string> = { done: this.table.doneState, failed: this.table.failedState, retry: this.table.pendingState };
    const outcomes: WorkOutcome<Row, Context, Result>[] = [];
    const rows = batch.map(({ item, result }): SettleRow => {
      const { verdict, values: judged, history } = this.processor.judge(item, result);
      let settled: Settled = verdict.kind === 'later' ? 'retry' : verdict.kind;
      let nextAttemptAt = now;
      if (verdict.kind === 'retry') {
        const tries = this.processor.tries?.(item) ?? item.attempts;
        if (tries >= this.options.maxAttempts) settled = 'failed';
        else nextAttemptAt = new Date(now.getTime() + backoffDelayMs(tries, verdict.retryAfterMs, this.options.backoff));
      } else if (verdict.kind === 'later') nextAttemptAt = new Date(now.getTime() + verdict.delayMs);
      const state = (verdict.kind === 'done' || verdict.kind === 'failed') && verdict.state !== undefined ? verdict.state : states[settled];
      const values = typeof judged === 'function' ? judged(settled, nextAttemptAt) : judged;
      const later = verdict.kind === 'later';
      outcomes.push({ item, result, settled, later, nextAttemptAt, values, history, applied: false });
      return { id: item.id, attempts: item.attempts, state, nextAttemptAt, completedAt: settled === 'retry' ? null : now, values, uncount: later, history };
    });
    const settleWith = this.processor.settleWith?.bind(this.processor);
    const applied = await this.sql.settle(em, rows, now, settleWith && ((first) => settleWith(outcomes, now, first)));
    const written = outcomes.map((o) => ({ ...o, applied: applied.has(o.item.id) }));
    await this.processor.record(em, written, now);
    return written;
  }

  /** Wakes the loop when the earliest retry written comes due, if sooner than the poll. */
  private scheduleWake(outcomes: WorkOutcome<Row, Context, Result>[]): void {
    const retries = outcomes.filter((o) => o.applied && o.settled === 'retry').map((o) => o.nextAttemptAt.getTime());
    if (retries.length === 0 || this.stopping) return;
    const delay = Math.min(...retries) - Date.now();
    if (delay >= this.options.pollMs) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.wakeup.notify();
    }, Math.max(0, delay));
    timer.unref();
    this.timers.add(timer);
  }

  /**
   * Extends every lease held. One statement (PostgreSQL) or a prepared one per lease (SQLite).
   * Items claimed ahead whose lease was lost (taken over after a stall) are dropped, not started;
   * attempts running whose lease was lost are aborted (their outcome will not be applied).
   */
  private renew(): void {
    if (this.renewing || this.leases.size === 0) return;
    const held = [...this.leases.values()];
    const asked = new Set(held);
    const renew = (em: EntityManager): Promise<Set<string>> => this.sql.renew(em, held, new Date(Date.now() + this.options.leaseMs));
    // PostgreSQL: one statement from the pool; SQLite: through the one connection's queue.
    this.renewing = (this.sql.isPostgres ? renew(this.dataSource.manager) : this.transactions.run(renew, BOOKKEEPING))
      .then((renewed) => {
        this.metrics.renewals.inc({ queue: this.table.name }, renewed.size);
        for (let i = this.ready.length - 1; i >= 0; i--) {
          const item = this.ready[i];
          if (asked.has(item) && !renewed.has(item.id)) {
            this.ready.splice(i, 1);
            this.forget(item);
            this.metrics.ended.inc({ queue: this.table.name, outcome: 'lost_lease' });
          }
        }
        for (const item of held) {
          // Still running: its outcome is not written yet, so the lease was taken over (or the row removed).
          if (!renewed.has(item.id) && this.inflight.has(item.id) && this.leases.get(item.id) === item) this.aborts.get(item.id)?.abort();
        }
      })
      .catch((error: unknown) => this.logger.error({ err: error }, `renewing ${held.length} ${this.table.name} leases failed; retrying shortly`))
      .finally(() => (this.renewing = null));
  }

  private gauge(): void {
    this.metrics.inflight.set({ queue: this.table.name }, this.inflight.size);
    this.metrics.held.set({ queue: this.table.name }, this.leases.size);
  }
}

/** Adds `n` to a key's count, removing the key at zero. */
function add(counts: Map<string, number>, key: string, n: number): void {
  const left = (counts.get(key) ?? 0) + n;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}

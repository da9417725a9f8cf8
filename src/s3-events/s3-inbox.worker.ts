import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditService } from '../audit/audit.service';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { Subscription } from 'rxjs';
import { DataSource, EntityManager } from 'typeorm';
import { backoffDelayMs } from '../common/backoff';
import { Wakeup } from '../common/wakeup';
import { s3EventsConfig, S3EventsConfig } from '../config/s3-events.config';
import { TransactionRunner } from '../database/transaction-runner.service';
import { isConcurrencyConflict } from '../database/unique-violation';
import { OutboxService } from '../events/outbox.service';
import { ActionResult, S3ActionRunner } from './s3-action-runner.service';
import { S3Action, S3Operation } from './s3-action.types';
import { S3EventSource } from './s3-event-source.entity';
import { S3InboxState } from './s3-inbox-record.entity';
import { S3InboxSignal } from './s3-inbox-signal.service';
import { executeSql, placeholders, selectSql } from '../database/raw-sql';

const SHUTDOWN_GRACE_MS = 5000;
const MAX_ERROR = 2000;

/** The event types this module records in the outbox. */
export enum S3EventType {
  ObjectCreated = 's3.object.created',
  ObjectRemoved = 's3.object.removed',
}

interface ClaimedRow {
  id: string;
  source_id: string;
  organization_id: string;
  bucket: string;
  object_key: string;
  event_name: string;
  etag: string | null;
  sequencer: string;
  seq_sort: string;
  size: string | null;
  attempts: number | string;
  attempt_base: number | string;
  emitted: boolean | number;
  forced: boolean | number;
  actions_done: string;
}

/** A claimed record; `attempts` (after the claim) fences every later write. */
interface Claimed {
  id: string;
  sourceId: string;
  organizationId: string;
  bucket: string;
  key: string;
  eventName: string;
  etag: string | null;
  sequencer: string;
  seqSort: string;
  size: string | null;
  attempts: number;
  attemptBase: number;
  emitted: boolean;
  forced: boolean;
  actionsDone: number[];
}

interface RunOutcome {
  index: number;
  action: S3Action;
  result: ActionResult;
}

class LostClaim extends Error {}

/** The source's actions that have not succeeded for this record yet. */
const pendingActions = (record: Claimed, source: S3EventSource): Array<{ action: S3Action; index: number }> =>
  source.actions.map((action, index) => ({ action, index })).filter(({ index }) => !record.actionsDone.includes(index));

const operationOf = (eventName: string): S3Operation => (/Removed|Delete/.test(eventName) ? S3Operation.Delete : S3Operation.Copy);

/**
 * Works the S3 inbox (issue 8). Claims due records with a conditional UPDATE that re-checks each
 * row (several workers and replicas never hold the same record), one record of an object key at a
 * time and in sequencer order. For each record, in the claim's transaction: a record older than one
 * already acted on for the key is marked `skipped_stale`; otherwise its `s3.object.created` /
 * `s3.object.removed` event is recorded in the outbox (once per record). Then the source's actions
 * run (only those not yet successful); their outcomes and the record's next state (done, retry
 * with backoff, failed after S3_EVENTS_MAX_ATTEMPTS) are written in one transaction fenced by the
 * claim. Claims are renewed while actions run, so a slow action keeps its record; a killed worker's
 * claims expire after S3_EVENTS_CLAIM_TTL_MS and the records run again (at least once).
 */
@Injectable()
export class S3InboxWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(S3InboxWorker.name);
  private readonly wakeup = new Wakeup();
  private readonly postgres: boolean;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly claims = new Map<string, Claimed>();
  private stopping = false;
  private released = false;
  private loop: Promise<void> | null = null;
  private subscription: Subscription | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly transactions: TransactionRunner,
    private readonly outbox: OutboxService,
    private readonly runner: S3ActionRunner,
    private readonly signal: S3InboxSignal,
    @Inject(s3EventsConfig.KEY) private readonly config: S3EventsConfig,
    private readonly audit: AuditService,
  ) {
    this.postgres = dataSource.options.type === 'postgres';
  }

  onApplicationBootstrap(): void {
    if (!this.config.workerEnabled) return;
    this.subscription = this.signal.stored$.subscribe(() => this.wakeup.notify());
    this.loop = this.run();
  }

  /**
   * Stops claiming, lets records in flight finish for a few seconds, then gives the claims of the
   * rest back (pending, due now) and kills their commands: those run again (at least once).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.subscription?.unsubscribe();
    for (const timer of this.timers) clearTimeout(timer);
    this.wakeup.notify();
    await this.loop;
    if (this.inflight.size === 0) return;
    let graceTimer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      Promise.all(this.inflight.values()).then(() => true),
      new Promise<boolean>((resolve) => (graceTimer = setTimeout(() => resolve(false), SHUTDOWN_GRACE_MS))),
    ]);
    clearTimeout(graceTimer);
    if (drained) return;
    this.released = true;
    const left = [...this.claims.values()];
    try {
      await this.transactions.run(async (em) => {
        const now = new Date();
        for (const claim of left) {
          await executeSql(
            em,
            `UPDATE s3_inbox SET state = ?, locked_until = NULL, next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ? AND state = ? AND attempts = ?`,
            [S3InboxState.Pending, now, 'interrupted: the worker shut down during its actions', now, claim.id, S3InboxState.Processing, claim.attempts],
          );
        }
      });
    } catch (error) {
      this.logger.error({ err: error }, 'shutdown: the S3 inbox claims in flight could not be given back; they expire on their own');
    }
    // Cut, not completed: they run again from the start (their records were given back above).
    this.runner.killAll();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const free = this.config.concurrency - this.inflight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          claimed = await this.claimAndStart(free);
        } catch (error) {
          if (!isConcurrencyConflict(error)) this.logger.error({ err: error }, 'claiming S3 inbox records failed; retrying at the next poll');
        }
      }
      if (this.stopping) break;
      if (free === 0 || claimed < free) await this.wakeup.wait(this.config.pollMs);
    }
  }

  private async claimAndStart(free: number): Promise<number> {
    const { claimed, toRun } = await this.claim(free);
    for (const { record, source } of toRun) {
      this.claims.set(record.id, record);
      const work = this.process(record, source)
        .catch((error: unknown) => {
          if (error instanceof LostClaim) this.logger.warn(`S3 inbox record ${record.id}: claim lost (another worker owns it now)`);
          else this.logger.error({ err: error }, `S3 inbox record ${record.id}: left to its claim's expiry`);
        })
        .finally(() => {
          this.inflight.delete(record.id);
          this.claims.delete(record.id);
          this.wakeup.notify();
        });
      this.inflight.set(record.id, work);
    }
    return claimed.length;
  }

  /** Runs the actions of a claimed record that has passed {@link begin}, then records their outcomes. */
  private async process(record: Claimed, source: S3EventSource): Promise<void> {
    const pending = pendingActions(record, source);
    // Another worker holds the record once a renewal finds the claim gone: stop at once (kill the command) rather than run its actions alongside.
    const lost = new AbortController();
    const renew = setInterval(() => void this.renew(record).then((held) => held || lost.abort()), Math.max(100, Math.floor(this.config.claimTtlMs / 3)));
    const outcomes: RunOutcome[] = [];
    try {
      const target = { recordId: record.id, bucket: record.bucket, key: record.key, operation: operationOf(record.eventName), eventName: record.eventName, sequencer: record.sequencer, etag: record.etag };
      for (const { action, index } of pending) {
        if (lost.signal.aborted) break;
        outcomes.push({ index, action, result: await this.runner.run(action, target, lost.signal) });
      }
    } finally {
      clearInterval(renew);
    }
    if (this.released) return;
    if (lost.signal.aborted) throw new LostClaim();
    await this.writeWithRetry((em) => this.finish(em, record, outcomes));
  }

  /**
   * The stale check and the event, in the claim's transaction, fenced by the claim. Returns whether the
   * actions should run (false when stale, or when the source has none left: then it is done).
   */
  private async begin(em: EntityManager, record: Claimed, source: S3EventSource, nothingToRun: boolean): Promise<boolean> {
    const now = new Date();
    if (!record.forced) {
      const newer = await selectSql<{ sequencer: string }>(
        em,
        `SELECT sequencer FROM s3_inbox WHERE source_id = ? AND bucket = ? AND object_key = ? AND emitted = ? AND seq_sort > ? ORDER BY seq_sort DESC LIMIT 1`,
        [record.sourceId, record.bucket, record.key, true, record.seqSort],
      );
      if (newer.length > 0) {
        await this.fenced(
          em,
          record,
          `state = ?, locked_until = NULL, completed_at = ?, last_error = ?, updated_at = ?`,
          [S3InboxState.SkippedStale, now, `stale: an event with the newer sequencer ${newer[0].sequencer} was already acted on for this key`, now],
        );
        return false;
      }
    }
    if (!record.emitted) {
      const removed = operationOf(record.eventName) === S3Operation.Delete;
      await this.outbox.record(em, {
        type: removed ? S3EventType.ObjectRemoved : S3EventType.ObjectCreated,
        organizationId: record.organizationId,
        data: {
          source_id: source.id,
          source_name: source.name,
          inbox_id: record.id,
          bucket: record.bucket,
          key: record.key,
          event_name: record.eventName,
          etag: record.etag,
          sequencer: record.sequencer,
          size: record.size === null ? null : Number(record.size),
        },
      });
      await this.fenced(em, record, `emitted = ?, updated_at = ?`, [true, now]);
    }
    if (nothingToRun) {
      await this.fenced(em, record, `state = ?, locked_until = NULL, completed_at = ?, last_error = NULL, updated_at = ?`, [S3InboxState.Done, now, now]);
      return false;
    }
    return true;
  }

  /** Records the runs and the record's next state, fenced by the claim. */
  private async finish(em: EntityManager, record: Claimed, outcomes: RunOutcome[]): Promise<void> {
    const now = new Date();
    const done = [...record.actionsDone, ...outcomes.filter((o) => o.result.success).map((o) => o.index)].sort((a, b) => a - b);
    const failures = outcomes.filter((o) => !o.result.success);
    const tries = record.attempts - record.attemptBase;
    let state = S3InboxState.Done;
    let next = now;
    const lastError = failures.length === 0 ? null : failures.map((f) => `actions[${f.index}] ${f.action.type}: ${f.result.error ?? 'failed'}`).join('; ').slice(0, MAX_ERROR);
    if (failures.length > 0) {
      if (tries >= this.config.maxAttempts) state = S3InboxState.Failed;
      else {
        state = S3InboxState.Pending;
        next = new Date(now.getTime() + backoffDelayMs(tries, null, { baseMs: this.config.backoffBaseMs, maxMs: this.config.backoffMaxMs }));
      }
    }
    await this.fenced(
      em,
      record,
      `state = ?, actions_done = ?, next_attempt_at = ?, locked_until = NULL, last_error = ?, completed_at = ?, updated_at = ?`,
      [state, JSON.stringify(done), next, lastError, state === S3InboxState.Pending ? null : now, now],
    );
    if (outcomes.length > 0) {
      const columns = 14;
      await executeSql(
        em,
        `INSERT INTO s3_action_attempts (id, inbox_id, action_index, action_type, attempt, operation, started_at, duration_ms, success, exit_code, stdout, stderr, error, note)
         VALUES ${placeholders(outcomes.length, columns)}`,
        outcomes.flatMap(({ index, action, result }) => [
          randomUUID(), record.id, index, action.type, record.attempts, operationOf(record.eventName), result.startedAt, result.durationMs,
          result.success, result.exitCode, result.stdout, result.stderr, result.error, result.note,
        ]),
      );
    }
    // One record per action run, with the run's own record (docs/audit.md).
    await this.audit.record(
      em,
      outcomes.map(({ index, action, result }) => ({
        at: result.startedAt,
        kind: AuditKind.S3Action,
        name: action.type,
        outcome: result.success ? AuditOutcome.Ok : AuditOutcome.Failed,
        code: result.success ? 'ok' : result.exitCode !== null ? `exit ${result.exitCode}` : 'error',
        organizationId: record.organizationId,
        workId: record.id,
        durationMs: result.durationMs,
        detail: { action_index: index, attempt: record.attempts, state },
      })),
    );
    if (state === S3InboxState.Pending) this.scheduleWake(next.getTime());
  }

  /** An UPDATE of the claimed record that only applies while this claim holds; otherwise the transaction is undone. */
  private async fenced(em: EntityManager, record: Claimed, set: string, params: unknown[]): Promise<void> {
    const changed = await executeSql(em, `UPDATE s3_inbox SET ${set} WHERE id = ? AND state = ? AND attempts = ?`, [
      ...params,
      record.id,
      S3InboxState.Processing,
      record.attempts,
    ]);
    if (changed === 0) throw new LostClaim();
  }

  /** Extends the claim; false when it is gone (another worker's now), true when extended or when the database could not say. */
  private async renew(record: Claimed): Promise<boolean> {
    try {
      const now = new Date();
      const work = (em: EntityManager) =>
        executeSql(em, `UPDATE s3_inbox SET locked_until = ? WHERE id = ? AND state = ? AND attempts = ?`, [
          new Date(now.getTime() + this.config.claimTtlMs),
          record.id,
          S3InboxState.Processing,
          record.attempts,
        ]);
      return (await (this.postgres ? work(this.dataSource.manager) : this.transactions.run(work))) > 0;
    } catch (error) {
      this.logger.warn({ err: error }, `S3 inbox record ${record.id}: claim not renewed`);
      return true;
    }
  }

  private async writeWithRetry(work: (em: EntityManager) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.transactions.run(work);
        return;
      } catch (error) {
        if (error instanceof LostClaim || !isConcurrencyConflict(error) || attempt >= 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
      }
    }
  }

  private scheduleWake(at: number): void {
    const delay = at - Date.now();
    if (this.stopping || delay >= this.config.pollMs) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.wakeup.notify();
    }, Math.max(0, delay));
    timer.unref();
    this.timers.add(timer);
  }

  /**
   * Claims up to `free` due records: pending ones whose time has come and processing ones whose
   * claim expired, skipping any record while another record of the same object key is being
   * processed or an older one (by sequencer) of that key waits, so the actions of one key run in
   * order, one at a time.
   */
  private async claim(free: number): Promise<{ claimed: Claimed[]; toRun: Array<{ record: Claimed; source: S3EventSource }> }> {
    const work = async (em: EntityManager) => {
      const now = new Date();
      const lockedUntil = new Date(now.getTime() + this.config.claimTtlMs);
      const due = `((i.state = ? AND i.next_attempt_at <= ?) OR (i.state = ? AND i.locked_until < ?))`;
      const ahead = `NOT EXISTS (SELECT 1 FROM s3_inbox o
          WHERE o.source_id = i.source_id AND o.bucket = i.bucket AND o.object_key = i.object_key AND o.id <> i.id
            AND ((o.state = ? AND o.locked_until >= ?)
              OR (o.state IN (?, ?) AND (o.seq_sort < i.seq_sort OR (o.seq_sort = i.seq_sort AND o.id < i.id)))))`;
      const dueParams = [S3InboxState.Pending, now, S3InboxState.Processing, now];
      const aheadParams = [S3InboxState.Processing, now, S3InboxState.Pending, S3InboxState.Processing];
      // Two scans that each walk the due index and stop at the limit (one OR across both would read the whole inbox).
      const candidates = [
        ...(await selectSql<{ id: string }>(
          em,
          `SELECT i.id FROM s3_inbox i WHERE i.state = ? AND i.locked_until < ? AND ${ahead} ORDER BY i.locked_until LIMIT ${free}`,
          [S3InboxState.Processing, now, ...aheadParams],
        )),
        ...(await selectSql<{ id: string }>(
          em,
          `SELECT i.id FROM s3_inbox i WHERE i.state = ? AND i.next_attempt_at <= ? AND ${ahead} ORDER BY i.next_attempt_at LIMIT ${free}`,
          [S3InboxState.Pending, now, ...aheadParams],
        )),
      ].slice(0, free);
      if (candidates.length === 0) return { claimed: [], toRun: [] };
      const ids = candidates.map((c) => c.id);
      const rows = await selectSql<ClaimedRow>(
        em,
        `UPDATE s3_inbox AS i SET state = ?, attempts = attempts + 1, locked_until = ?, updated_at = ?
          WHERE i.id IN (${ids.map(() => '?').join(', ')}) AND ${due} AND ${ahead}
          RETURNING id, source_id, organization_id, bucket, object_key, event_name, etag, sequencer, seq_sort, size, attempts, attempt_base, emitted, forced, actions_done`,
        [S3InboxState.Processing, lockedUntil, now, ...ids, ...dueParams, ...aheadParams],
      );
      const claimed = rows.map(
        (r): Claimed => ({
          id: r.id,
          sourceId: r.source_id,
          organizationId: r.organization_id,
          bucket: r.bucket,
          key: r.object_key,
          eventName: r.event_name,
          etag: r.etag,
          sequencer: r.sequencer,
          seqSort: r.seq_sort,
          size: r.size,
          attempts: Number(r.attempts),
          attemptBase: Number(r.attempt_base),
          emitted: Boolean(r.emitted),
          forced: Boolean(r.forced),
          actionsDone: JSON.parse(r.actions_done) as number[],
        }),
      );
      const sourceIds = [...new Set(claimed.map((c) => c.sourceId))];
      const sources = new Map(
        (sourceIds.length === 0 ? [] : await em.createQueryBuilder(S3EventSource, 's').where('s.id IN (:...ids)', { ids: sourceIds }).getMany()).map((s) => [s.id, s]),
      );
      // The stale check and the event in the claim's own transaction: one transaction fewer per record
      // (on SQLite every transaction waits in the one queue the intake uses too).
      const toRun: Array<{ record: Claimed; source: S3EventSource }> = [];
      for (const record of claimed) {
        const source = sources.get(record.sourceId);
        if (source && (await this.begin(em, record, source, pendingActions(record, source).length === 0))) toRun.push({ record, source });
      }
      return { claimed, toRun };
    };
    return this.transactions.run(work);
  }
}

import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { Subscription } from 'rxjs';
import { Registry } from 'prom-client';
import { DataSource, EntityManager } from 'typeorm';
import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditService } from '../audit/audit.service';
import { s3EventsConfig, S3EventsConfig } from '../config/s3-events.config';
import { executeSql, placeholders, selectSql } from '../database/raw-sql';
import { TransactionRunner } from '../database/transaction-runner.service';
import { OutboxService } from '../events/outbox.service';
import { Verdict, WorkItem, WorkOutcome, WorkProcessor, WorkQueueTable } from '../work-core/work-queue';
import { WorkRunner } from '../work-core/work-runner';
import { ActionResult, S3ActionRunner } from './s3-action-runner.service';
import { S3Action, S3Operation } from './s3-action.types';
import { S3EventSource } from './s3-event-source.entity';
import { S3InboxState } from './s3-inbox-record.entity';
import { S3InboxSignal } from './s3-inbox-signal.service';

const SHUTDOWN_GRACE_MS = 5000;
const MAX_ERROR = 2000;

/** The event types this module records in the outbox. */
export enum S3EventType {
  ObjectCreated = 's3.object.created',
  ObjectRemoved = 's3.object.removed',
}

/**
 * `s3_inbox` as the work core leases it: keyed by source (no per-source limit beyond the
 * concurrency), and first in, first out per object key: one record of a key at a time, in sequencer order.
 */
const INBOX: WorkQueueTable = {
  name: 's3_inbox',
  table: 's3_inbox',
  keyColumn: 'source_id',
  pendingState: S3InboxState.Pending,
  leasedState: S3InboxState.Processing,
  doneState: S3InboxState.Done,
  failedState: S3InboxState.Failed,
  payloadColumns: ['organization_id', 'bucket', 'object_key', 'event_name', 'etag', 'sequencer', 'seq_sort', 'size', 'attempt_base', 'emitted', 'forced', 'actions_done'],
  keyGate: { table: 's3_event_sources', where: 'g.id IS NOT NULL', params: [] },
  outcomeColumns: { actions_done: 'text', last_error: 'text' },
  interruptedValues: { last_error: 'interrupted: the worker shut down during its actions' },
  ordered: { group: ['source_id', 'bucket', 'object_key'], by: 'seq_sort' },
};

interface InboxRow {
  organization_id: string;
  bucket: string;
  object_key: string;
  event_name: string;
  etag: string | null;
  sequencer: string;
  seq_sort: string;
  size: string | null;
  attempt_base: number | string;
  emitted: boolean | number;
  forced: boolean | number;
  actions_done: string;
}

/** What the claim prepared: the source, and either the newer sequencer that makes the record stale or the actions left to run. */
interface Prepared {
  source: S3EventSource;
  staleBy: string | null;
  done: number[];
  pending: Array<{ action: S3Action; index: number }>;
}

interface RunOutcome {
  index: number;
  action: S3Action;
  result: ActionResult;
}

type InboxItem = WorkItem<InboxRow, Prepared>;
type InboxOutcome = WorkOutcome<InboxRow, Prepared, RunOutcome[]>;

const operationOf = (eventName: string): S3Operation => (/Removed|Delete/.test(eventName) ? S3Operation.Delete : S3Operation.Copy);

/** The inbox state an outcome leaves, as audit records name it. */
const stateOf = (o: InboxOutcome): S3InboxState => (o.settled === 'done' ? S3InboxState.Done : o.settled === 'retry' ? S3InboxState.Pending : S3InboxState.Failed);

/**
 * Works the S3 inbox (issue 8) as a processor of the work core (docs/work-core.md), which claims,
 * leases (renewed while actions run), orders the records of one object key, retries and gives back.
 * In the claim's transaction: a record older than one already acted on for its key is to be
 * skipped (`skipped_stale`); otherwise its `s3.object.created` / `s3.object.removed` event is
 * recorded in the outbox (once per record). Then the source's actions not yet successful run, one
 * after another; a lost lease kills the running command and runs none of the rest. Their attempts,
 * audit records and the record's next state are written with the outcome, fenced by the claim.
 */
@Injectable()
export class S3InboxWorker implements OnApplicationBootstrap, BeforeApplicationShutdown, WorkProcessor<InboxRow, Prepared, RunOutcome[]> {
  private readonly logger = new Logger(S3InboxWorker.name);
  private readonly work: WorkRunner<InboxRow, Prepared, RunOutcome[]>;
  private subscription: Subscription | null = null;

  constructor(
    @InjectDataSource() dataSource: DataSource,
    transactions: TransactionRunner,
    private readonly outbox: OutboxService,
    private readonly runner: S3ActionRunner,
    private readonly signal: S3InboxSignal,
    @Inject(s3EventsConfig.KEY) private readonly config: S3EventsConfig,
    private readonly audit: AuditService,
    registry: Registry,
  ) {
    this.work = new WorkRunner(
      dataSource,
      transactions,
      INBOX,
      this,
      {
        concurrency: config.concurrency,
        perKeyLimit: config.concurrency,
        maxAttempts: config.maxAttempts,
        backoff: { baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs },
        pollMs: config.pollMs,
        leaseMs: config.claimTtlMs,
        shutdownGraceMs: SHUTDOWN_GRACE_MS,
        prepareWrites: true,
      },
      registry,
    );
  }

  onApplicationBootstrap(): void {
    if (!this.config.workerEnabled) return;
    this.subscription = this.signal.stored$.subscribe(() => this.work.notify());
    this.work.start();
  }

  /**
   * Lets records in flight finish for a few seconds, then gives the claims of the rest back
   * (pending, due now) and kills their commands: those run again (at least once).
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.config.workerEnabled) return;
    this.subscription?.unsubscribe();
    await this.work.stop();
  }

  /** Tries count from the last replay. */
  tries(record: InboxItem): number {
    return record.attempts - Number(record.row.attempt_base);
  }

  /**
   * In the claim's transaction: each record's source, the stale check (unless replayed by hand),
   * and the outbox event of a record not stale and not emitted yet.
   */
  async prepare(em: EntityManager, records: InboxItem[]): Promise<void> {
    const ids = [...new Set(records.map((r) => r.key))];
    const sources = new Map((await em.createQueryBuilder(S3EventSource, 's').where('s.id IN (:...ids)', { ids }).getMany()).map((s) => [s.id, s]));
    for (const record of records) {
      const source = sources.get(record.key);
      if (!source) continue;
      const row = record.row;
      const done = JSON.parse(row.actions_done) as number[];
      const pending = source.actions.map((action, index) => ({ action, index })).filter(({ index }) => !done.includes(index));
      if (!row.forced) {
        const [newer] = await selectSql<{ sequencer: string }>(
          em,
          `SELECT sequencer FROM s3_inbox WHERE source_id = ? AND bucket = ? AND object_key = ? AND emitted = ? AND seq_sort > ? ORDER BY seq_sort DESC LIMIT 1`,
          [record.key, row.bucket, row.object_key, true, row.seq_sort],
        );
        if (newer) {
          record.context = { source, staleBy: newer.sequencer, done, pending: [] };
          continue;
        }
      }
      if (!row.emitted) {
        await this.outbox.record(em, {
          type: operationOf(row.event_name) === S3Operation.Delete ? S3EventType.ObjectRemoved : S3EventType.ObjectCreated,
          organizationId: row.organization_id,
          data: {
            source_id: source.id,
            source_name: source.name,
            inbox_id: record.id,
            bucket: row.bucket,
            key: row.object_key,
            event_name: row.event_name,
            etag: row.etag,
            sequencer: row.sequencer,
            size: row.size === null ? null : Number(row.size),
          },
        });
        await executeSql(em, `UPDATE s3_inbox SET emitted = ? WHERE id = ? AND attempts = ?`, [true, record.id, record.attempts]);
      }
      record.context = { source, staleBy: null, done, pending };
    }
  }

  /** Runs the actions left, one after another; stops (the command killed) once the lease is lost. */
  async perform(record: InboxItem, lost: AbortSignal): Promise<RunOutcome[]> {
    const { row } = record;
    const target = {
      recordId: record.id,
      bucket: row.bucket,
      key: row.object_key,
      operation: operationOf(row.event_name),
      eventName: row.event_name,
      sequencer: row.sequencer,
      etag: row.etag,
    };
    const outcomes: RunOutcome[] = [];
    for (const { action, index } of record.context?.pending ?? []) {
      if (lost.aborted) break;
      outcomes.push({ index, action, result: await this.runner.run(action, target, lost) });
    }
    return outcomes;
  }

  /** Stale: skipped. Otherwise done once every action has succeeded, else retried (failed once the tries run out). */
  judge(record: InboxItem, outcomes: RunOutcome[]): { verdict: Verdict; values: Record<string, unknown> } {
    const prepared = record.context as Prepared;
    if (prepared.staleBy !== null) {
      const lastError = `stale: an event with the newer sequencer ${prepared.staleBy} was already acted on for this key`;
      return { verdict: { kind: 'done', state: S3InboxState.SkippedStale }, values: { actions_done: JSON.stringify(prepared.done), last_error: lastError } };
    }
    const done = [...prepared.done, ...outcomes.filter((o) => o.result.success).map((o) => o.index)].sort((a, b) => a - b);
    const failures = outcomes.filter((o) => !o.result.success);
    const lastError = failures.length === 0 ? null : failures.map((f) => `actions[${f.index}] ${f.action.type}: ${f.result.error ?? 'failed'}`).join('; ').slice(0, MAX_ERROR);
    return { verdict: failures.length === 0 ? { kind: 'done' } : { kind: 'retry', retryAfterMs: null }, values: { actions_done: JSON.stringify(done), last_error: lastError } };
  }

  /** The action attempts and their audit records (kind `s3.action`, docs/audit.md) of the outcomes applied. */
  async record(em: EntityManager, outcomes: InboxOutcome[]): Promise<void> {
    const applied: InboxOutcome[] = [];
    for (const o of outcomes) {
      if (o.applied) applied.push(o);
      else this.logger.warn(`S3 inbox record ${o.item.id}: claim lost (another worker owns it now)`);
    }
    const runs = applied.flatMap((o) => o.result.map((run) => ({ o, ...run })));
    if (runs.length === 0) return;
    await executeSql(
      em,
      `INSERT INTO s3_action_attempts (id, inbox_id, action_index, action_type, attempt, operation, started_at, duration_ms, success, exit_code, stdout, stderr, error, note)
       VALUES ${placeholders(runs.length, 14)}`,
      runs.flatMap(({ o, index, action, result }) => [
        randomUUID(), o.item.id, index, action.type, o.item.attempts, operationOf(o.item.row.event_name), result.startedAt, result.durationMs,
        result.success, result.exitCode, result.stdout, result.stderr, result.error, result.note,
      ]),
    );
    // One record per action run, with the run's own record (docs/audit.md).
    await this.audit.record(
      em,
      runs.map(({ o, index, action, result }) => ({
        at: result.startedAt,
        kind: AuditKind.S3Action,
        name: action.type,
        outcome: result.success ? AuditOutcome.Ok : AuditOutcome.Failed,
        code: result.success ? 'ok' : result.exitCode !== null ? `exit ${result.exitCode}` : 'error',
        organizationId: o.item.row.organization_id,
        workId: o.item.id,
        durationMs: result.durationMs,
        detail: { action_index: index, attempt: o.item.attempts, state: stateOf(o) },
      })),
    );
  }
}

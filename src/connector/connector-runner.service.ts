import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { debounceTime, Subscription } from 'rxjs';
import type { Pool } from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditEntry, AuditService, pgAuditInsertOf, pgAuditParameters } from '../audit/audit.service';
import { backoffDelayMs } from '../common/backoff';
import { Wakeup } from '../common/wakeup';
import { connectorConfig, ConnectorConfig } from '../config/connector.config';
import { GroupCommit } from '../database/group-commit';
import { LeaseService } from '../database/lease.service';
import { TransactionRunner } from '../database/transaction-runner.service';
import { isConcurrencyConflict } from '../database/unique-violation';
import { OutboxService } from '../events/outbox.service';
import { fromDbDate } from '../database/raw-dates';
import type { AlertBody, AlertDismissalBody, LookupOutcome, PushOutcome, RemoteWorkload, WorkloadBody, WorkloadRemovalBody } from './acronis-api.types';
import { AcronisClient } from './acronis-client.service';
import { alertIdOf, findWorkloadRow, workloadToSend } from './connector-sync';
import { ConnectorWorkload } from './connector-workload.entity';
import { datacenterUrlProblem } from './datacenter-policy';
import { ConnectorItem, ConnectorItemKind, ConnectorItemState } from './connector-item.entity';
import { ConnectorRun, ConnectorRunStatus } from './connector-run.entity';
import { ConnectorTrigger } from './connector-trigger.service';
import { DemoGenerator } from './demo-generator.service';

/** The lease every replica competes for; its holder runs the connector. */
export const CONNECTOR_LEASE = 'connector';
/** The outbox event recorded with every finished run. */
export const RUN_COMPLETED_EVENT = 'connector.run.completed';
export const NOT_MAPPED_REASON = 'organization is not mapped to an Acronis tenant';

/** Who started a run (stored in `connector_runs.trigger`). */
export type ConnectorRunTrigger = 'schedule' | 'cli' | 'api';

/** "Send now" requests arriving within this window start one run. */
const TRIGGER_DEBOUNCE_MS = 200;
/** Slack added to a claim on top of the longest a push can take (see claimTtlMs). */
const CLAIM_MARGIN_MS = 2000;
/** How long shutdown waits for the run in progress to record what it did. */
const SHUTDOWN_GRACE_MS = 30_000;
/** Attempts at writing a batch of outcomes before leaving the items to their claim's expiry. */
const OUTCOME_WRITE_ATTEMPTS = 3;
const MAX_ERROR_LENGTH = 2000;
/** PostgreSQL: most outcomes written by one statement. */
const OUTCOME_BATCH_MAX = 256;

/**
 * The columns an outcome may set (see `changesFor`), as the PostgreSQL batch write reads them
 * from its JSON: the item's property, the column, and the SQL type its text is cast to.
 */
const OUTCOME_COLUMNS = [
  ['state', 'state', 'varchar'],
  ['attempts', 'attempts', 'integer'],
  ['nextAttemptAt', 'next_attempt_at', 'timestamptz'],
  ['lockedUntil', 'locked_until', 'timestamptz'],
  ['acronisTenantId', 'acronis_tenant_id', 'varchar'],
  ['acronisDcUrl', 'acronis_dc_url', 'varchar'],
  ['remoteId', 'remote_id', 'varchar'],
  ['lastStatus', 'last_status', 'integer'],
  ['lastError', 'last_error', 'text'],
  ['waitingReason', 'waiting_reason', 'varchar'],
  ['sentAt', 'sent_at', 'timestamptz'],
] as const satisfies ReadonlyArray<readonly [keyof ConnectorItem, string, string]>;

/**
 * Writes a batch of outcomes in one statement on PostgreSQL. `$1` is a JSON array of objects:
 * `id`, `claim` (the attempt number the claim gave: the fence) and the properties the outcome
 * sets, by name (a property absent keeps its column; present as null sets NULL). Only rows still
 * claimed with that attempt number are updated; RETURNING says which. The text is constant
 * whatever the batch holds, so it is prepared once per connection (OUTCOME_STATEMENT).
 */
const OUTCOME_BATCH_SQL = `WITH applied AS (
  UPDATE connector_items AS i
    SET ${OUTCOME_COLUMNS.map(([property, column, type]) => `${column} = CASE WHEN v.o ? '${property}' THEN (v.o->>'${property}')::${type} ELSE i.${column} END`).join(',\n        ')},
        updated_at = CURRENT_TIMESTAMP
   FROM (SELECT e.o->>'id' AS id, (e.o->>'claim')::integer AS claim, e.o FROM jsonb_array_elements($1::jsonb) AS e(o)) AS v
  WHERE i.id = v.id AND i.state = '${ConnectorItemState.Sending}' AND i.attempts = v.claim
  RETURNING i.id
), audited AS (${pgAuditInsertOf('applied', 2)})
SELECT id FROM applied`;
/** The name OUTCOME_BATCH_SQL is prepared under on each pooled connection. */
const OUTCOME_STATEMENT = 'connector_outcome_batch';

/** What PostgreSQL cannot store in text (NUL) or in jsonb (a lone UTF-16 surrogate). */
// eslint-disable-next-line no-control-regex -- NUL is exactly what is looked for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/**
 * JSON.stringify replacer for the outcome batch: U+FFFD for what PostgreSQL refuses (an API's
 * answer quoted in last_error may hold anything), as the driver does for lone surrogates in a
 * text parameter; otherwise one such outcome would fail the whole statement.
 */
const storable = (_key: string, value: unknown): unknown => (typeof value === 'string' ? value.replace(UNSTORABLE, '\uFFFD') : value);

/** An item as claimed: what a push needs, and the attempt number that fences later writes. */
interface ClaimedItem {
  id: string;
  organizationId: string;
  kind: ConnectorItemKind;
  body: Record<string, unknown>;
  /** `attempts` after the claim incremented it: the claim's identity (a fencing token). */
  attempts: number;
  /**
   * The mapped Acronis tenant when claimed, or null when the organization has just been unmapped;
   * for a dismissal or removal, set to where it acted.
   */
  tenantId: string | null;
  /** That tenant's data center (null: ACRONIS_DC_URL); likewise. */
  dcUrl: string | null;
  /**
   * What an earlier attempt did is unknown (its runner died with the item claimed, or it ended in
   * a timeout, a dropped connection or a 5xx): it may have been applied, so look before sending.
   */
  unsure: boolean;
  /** Epoch ms of the item's creation: the alerts' `_sourceTimeStamp`. */
  createdAtMs: number;
}

/** Kinds that act where an earlier item went, so need no current mapping. */
const UNMAPPED_KINDS = [ConnectorItemKind.AlertDismissal, ConnectorItemKind.WorkloadRemoval];
/** The claim's condition on the organization's mapping, for the alias `c`. */
const mappedOrExempt = (alias: string): string =>
  `(${alias}.kind IN ('${UNMAPPED_KINDS.join("', '")}') OR EXISTS (SELECT 1 FROM organizations_mapping m WHERE m.organization_id = ${alias}.organization_id))`;
/** How long a dismissal waits for its alert's push in flight before looking again. */
const DEFER_MS = 1000;
/** Rows a pass's clean-up of unmapped tenants handles at most (the rest in the next pass). */
const CLEANUP_BATCH = 1000;

/**
 * The rows a claim takes, each a condition on (state, column) ordered by that column alone, so
 * that the (state, next_attempt_at) index yields the oldest rows without sorting every due one.
 */
const CLAIMABLE = [
  /** Claimed by a runner that died (or stalled) and whose claim has expired: taken first. */
  { name: 'abandoned', where: (c: string) => `${c}state = :sending AND ${c}locked_until < :now`, order: 'locked_until' },
  /** Waiting for their first or next attempt, which has come. */
  { name: 'due', where: (c: string) => `${c}state = :pending AND ${c}next_attempt_at <= :now`, order: 'next_attempt_at' },
] as const;

/** What a claiming UPDATE returns, as the driver gives it. */
interface ClaimedRow {
  id: string;
  organization_id: string;
  kind: ConnectorItemKind;
  body: string;
  attempts: number | string;
  last_status: number | string | null;
  created_at: Date | string;
  tenant_id: string | null;
  dc_url: string | null;
}

type DeliveryOutcome =
  | PushOutcome
  /** The organization is not mapped (any more): the item waits, its attempt given back. */
  | { kind: 'unmapped' }
  /** Done without a request (unchanged, already there, nothing left to do). */
  | { kind: 'noop'; remoteId: string | null }
  /** Not now (e.g. the alert to dismiss is being sent): again after `delayMs`, the attempt given back. */
  | { kind: 'defer'; reason: string; delayMs: number }
  /** Never sendable as it stands (e.g. a data center outside the allow-list). */
  | { kind: 'refused'; error: string };

interface OutcomeWrite {
  item: ClaimedItem;
  outcome: DeliveryOutcome;
  at: Date;
  /** How long the push took (its audit record's duration). */
  durationMs: number;
}

interface PendingWrite extends OutcomeWrite {
  resolve: (applied: boolean) => void;
  reject: (error: Error) => void;
}

/** What a run has done so far, for `runOnce`'s `onProgress`. */
export interface ConnectorRunProgress {
  sent: number;
  failed: number;
  /** Items waiting for a retry later in the pass (or the next run). */
  retrying: number;
}

export interface RunOnceOptions {
  /** Called after every recorded push. */
  onProgress?: (progress: ConnectorRunProgress) => void;
}

/** What one pass did so far. */
interface Tally {
  sent: number;
  failed: number;
  /** Items of this pass whose last outcome was "retry later" and that have not been settled since. */
  waiting: Set<string>;
  unmapped: number;
  /** What the clean-up of unmapped tenants did at the start of the pass. */
  cleanup?: { workloads: number; alerts: number; failed: number };
  onProgress?: (progress: ConnectorRunProgress) => void;
}

/** The lock key of one vendor device. */
const workloadLock = (organizationId: string, type: string, key: string): string => `workload:${organizationId}\u0000${type}\u0000${key}`;

const messageOf = (error: unknown): string =>
  (error instanceof Error ? `${error.name}: ${error.message}` : `Error: ${String(error)}`).slice(0, MAX_ERROR_LENGTH);

/**
 * Runs the connector: one pass pushes every due item to the Acronis tenant its organization is
 * mapped to, under the database lease so that one replica at a time does it (docs/architecture.md, flow 4 and docs/architecture.md, several replicas).
 *
 * Items are claimed with one conditional UPDATE (pending and due, or sending with an expired
 * claim → sending, attempts + 1, locked for longer than a push can take), so two runners never
 * hold the same item; the claim's attempt number fences every later write, so a runner that lost
 * an item cannot overwrite what its new owner did. An item killed in flight stays `sending` until
 * its claim expires and is then sent again: at most the pushes in flight at a crash are repeated.
 */
@Injectable()
export class ConnectorRunner implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(ConnectorRunner.name);
  /** This process, for the lease and the run rows: stable for its lifetime, unique across restarts. */
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private active: Promise<ConnectorRun | null> | null = null;
  private wakeup: Wakeup | null = null;
  /** "Send now" arrived while a run was past its last claim: run again after it. */
  private rerun = false;
  private stopping = false;
  private leaseLost = false;
  private subscription: Subscription | null = null;
  /** Outcomes waiting to be written. */
  private writes: PendingWrite[] = [];
  private readonly postgres: boolean;
  /** A flush is scheduled or running: outcomes queued meanwhile are written by it. */
  private flushing = false;
  /** Items this pass put back for a retry, with when they come due: claimed before other due items. */
  private retries = new Map<string, number>();
  /** This pass's listings of a tenant's workloads of one type (data center | tenant | type), shared by the items that need them. */
  private listings = new Map<string, Promise<LookupOutcome<Map<string, RemoteWorkload>>>>();
  /** Workload rows whose create this pass may or may not have applied (a timeout, a 5xx): never looked up in a cached listing. */
  private uncertain = new Set<string>();
  /** SQLite: workload-row writes of concurrent pushes, committed together. */
  private readonly rowWrites: GroupCommit;
  /** Per key (a device, an alert): the tail of the work queued on it in this process. */
  private readonly keyLocks = new Map<string, Promise<void>>();

  constructor(
    @Inject(connectorConfig.KEY) private readonly config: ConnectorConfig,
    private readonly client: AcronisClient,
    private readonly leases: LeaseService,
    private readonly transactions: TransactionRunner,
    private readonly outbox: OutboxService,
    private readonly demo: DemoGenerator,
    private readonly trigger: ConnectorTrigger,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {
    this.postgres = dataSource.options.type === 'postgres';
    this.rowWrites = new GroupCommit(transactions);
  }

  /** False without Acronis credentials: nothing is ever sent. */
  get enabled(): boolean {
    return this.client.enabled;
  }

  /** Pushes in flight at most (CONNECTOR_CONCURRENCY). */
  get concurrency(): number {
    return this.config.concurrency;
  }

  /** True while this process runs a pass. */
  get running(): boolean {
    return this.active !== null;
  }

  onModuleInit(): void {
    this.subscription = this.trigger.requests$.pipe(debounceTime(TRIGGER_DEBOUNCE_MS)).subscribe(() => this.sendNow());
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.subscription?.unsubscribe();
    this.stopping = true;
    this.wakeup?.notify();
    const active = this.active;
    if (!active) return;
    // The run stops claiming, lets its pushes finish and records itself before the database closes.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([active.catch(() => null), new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)))]);
    clearTimeout(timer);
  }

  /**
   * One pass: acquires the lease, records a run, generates demo items when configured, sends what
   * is due (and what comes due within the pass) and records the outcome. Null when the connector
   * is disabled, this process is already running, or another holder has the lease. Never rejects:
   * a failure is logged and returned as a failed run.
   */
  runOnce(trigger: ConnectorRunTrigger, options: RunOnceOptions = {}): Promise<ConnectorRun | null> {
    if (!this.client.enabled) {
      this.logger.warn('connector disabled: ACRONIS_CLIENT_ID/ACRONIS_CLIENT_SECRET/ACRONIS_DC_URL missing; nothing to run');
      return Promise.resolve(null);
    }
    if (this.active || this.stopping) return Promise.resolve(null);
    const run = this.execute(trigger, options).finally(() => {
      this.active = null;
      if (this.rerun && !this.stopping) {
        this.rerun = false;
        void this.runOnce('api');
      }
    });
    this.active = run;
    return run;
  }

  private sendNow(): void {
    if (this.stopping || !this.client.enabled) return;
    if (this.active) {
      this.rerun = true;
      this.wakeup?.notify();
      return;
    }
    void this.runOnce('api');
  }

  private async execute(trigger: ConnectorRunTrigger, options: RunOnceOptions): Promise<ConnectorRun | null> {
    const startedAt = new Date();
    try {
      if (!(await this.leases.acquire(CONNECTOR_LEASE, this.holder, this.config.leaseMs))) return null;
    } catch (error) {
      this.logger.error({ err: error }, 'connector run could not take the lease');
      return this.unrecorded(trigger, startedAt, error);
    }
    this.leaseLost = false;
    const renewal = setInterval(() => void this.renewLease(), Math.max(1000, Math.floor(this.config.leaseMs / 3)));
    const tally: Tally = { sent: 0, failed: 0, waiting: new Set(), unmapped: 0, onProgress: options.onProgress };
    let run: ConnectorRun | null = null;
    try {
      run = await this.start(trigger, startedAt);
      this.logger.log(`connector run ${run.id} started (${trigger})`);
      if (this.demo.enabled) {
        const generated = await this.demo.generate();
        if (generated > 0) this.logger.log(`connector run ${run.id}: ${generated} demo items queued`);
      }
      await this.pass(tally);
      return await this.finish(run, ConnectorRunStatus.Completed, tally, null);
    } catch (error) {
      this.logger.error({ err: error }, `connector run ${run?.id ?? '(not recorded)'} failed`);
      if (!run) return this.unrecorded(trigger, startedAt, error);
      try {
        return await this.finish(run, ConnectorRunStatus.Failed, tally, messageOf(error));
      } catch (finishError) {
        this.logger.error({ err: finishError }, `connector run ${run.id} could not be recorded as failed`);
        return Object.assign(run, { status: ConnectorRunStatus.Failed, finishedAt: new Date(), error: messageOf(error) });
      }
    } finally {
      clearInterval(renewal);
      await this.leases.release(CONNECTOR_LEASE, this.holder).catch((error: unknown) => {
        this.logger.warn({ err: error }, 'connector lease not released; it expires on its own');
      });
    }
  }

  private async renewLease(): Promise<void> {
    try {
      if (!(await this.leases.renew(CONNECTOR_LEASE, this.holder, this.config.leaseMs))) {
        this.logger.warn('connector lease lost (another replica took it over): this run stops claiming items');
        this.leaseLost = true;
        this.wakeup?.notify();
      }
    } catch (error) {
      // The lease is still ours until it expires; the next renewal tries again.
      this.logger.warn({ err: error }, 'connector lease renewal failed');
    }
  }

  /** Records the run, and closes runs left `running` by a holder that died: we hold the lease, so they are over. */
  private start(trigger: ConnectorRunTrigger, startedAt: Date): Promise<ConnectorRun> {
    return this.transactions.run(async (em) => {
      await em
        .createQueryBuilder()
        .update(ConnectorRun)
        .set({ status: ConnectorRunStatus.Failed, finishedAt: startedAt, error: 'abandoned: its runner stopped before finishing' })
        .where('status = :running', { running: ConnectorRunStatus.Running })
        .execute();
      const run = em.create(ConnectorRun, {
        id: randomUUID(),
        trigger,
        holder: this.holder,
        status: ConnectorRunStatus.Running,
        startedAt,
        finishedAt: null,
        sent: 0,
        failed: 0,
        skipped: 0,
        error: null,
      });
      await em.insert(ConnectorRun, run);
      return run;
    });
  }

  /** Closes the run row and records its outbox event, in one transaction, then logs the run's summary. */
  private async finish(run: ConnectorRun, status: ConnectorRunStatus, tally: Tally, error: string | null): Promise<ConnectorRun> {
    const finished = Object.assign(run, {
      status,
      finishedAt: new Date(),
      sent: tally.sent,
      failed: tally.failed,
      skipped: tally.waiting.size + tally.unmapped,
      error,
    });
    await this.transactions.run(async (em) => {
      const { sent, failed, skipped, finishedAt } = finished;
      await em.update(ConnectorRun, { id: run.id }, { status, finishedAt, sent, failed, skipped, error });
      await this.outbox.record(em, {
        type: RUN_COMPLETED_EVENT,
        organizationId: null,
        data: {
          run_id: run.id,
          trigger: run.trigger,
          holder: run.holder,
          status,
          started_at: run.startedAt.toISOString(),
          finished_at: finishedAt?.toISOString() ?? null,
          sent,
          failed,
          skipped,
          error,
        },
      });
    });
    this.logSummary(finished, tally);
    return finished;
  }

  /**
   * The run's one summary line: what it pushed (`sent`), what failed for good, what it left for
   * later (`skipped`: `retrying`, items whose last answer was "retry later", plus `unmapped`, items of
   * organizations mapped to no tenant) and how long it took. Warn level for a failed run.
   */
  private logSummary(run: ConnectorRun, tally: Tally): void {
    const durationMs = (run.finishedAt ?? new Date()).getTime() - run.startedAt.getTime();
    const fields = {
      event: 'connector.run.finished',
      runId: run.id,
      trigger: run.trigger,
      holder: run.holder,
      status: run.status,
      sent: run.sent,
      failed: run.failed,
      skipped: run.skipped,
      retrying: tally.waiting.size,
      unmapped: tally.unmapped,
      durationMs,
      ...(run.error ? { error: run.error } : {}),
    };
    const message = `connector run ${run.id} ${run.status}: ${run.sent} sent, ${run.failed} failed, ${run.skipped} skipped (${tally.waiting.size} retrying, ${tally.unmapped} unmapped) in ${durationMs} ms`;
    if (run.status === ConnectorRunStatus.Completed) this.logger.log(fields, message);
    else this.logger.warn(fields, message);
  }

  /** A run that could not be recorded (no database, no lease table): what the caller gets back. */
  private unrecorded(trigger: ConnectorRunTrigger, startedAt: Date, error: unknown): ConnectorRun {
    return Object.assign(new ConnectorRun(), {
      id: randomUUID(),
      trigger,
      holder: this.holder,
      status: ConnectorRunStatus.Failed,
      startedAt,
      finishedAt: new Date(),
      sent: 0,
      failed: 0,
      skipped: 0,
      error: messageOf(error),
    });
  }

  /**
   * Sends due items with at most `concurrency` pushes in flight. Claims run ahead of the pushes:
   * up to another `concurrency` claimed items wait in memory, so a finished push starts the next
   * one at once instead of waiting for a claim, and claims go in batches of at least half the
   * slots. Waits for retries that come due before the pass's deadline. Stops claiming at the
   * deadline, at shutdown or when the lease is lost (giving queued claims back), and returns once
   * every push has been recorded.
   */
  private async pass(tally: Tally): Promise<void> {
    if (this.postgres) {
      // Items are often inserted in bulk just before a pass; stale statistics make the planner
      // scan every pending row per claim (measured 41.8 s → 36.4 s for 10,000 items). ANALYZE
      // takes no lock that blocks reads or writes.
      await this.dataSource.query('ANALYZE connector_items');
    }
    this.retries.clear();
    this.listings.clear();
    this.uncertain.clear();
    tally.cleanup = await this.cleanUpUnmapped();
    const deadline = Date.now() + this.config.maxPassMs;
    const slots = this.config.concurrency;
    const inflight = new Map<string, Promise<void>>();
    const queued: ClaimedItem[] = [];
    const wakeup = new Wakeup();
    this.wakeup = wakeup;
    const claiming = (): boolean => !this.stopping && !this.leaseLost && Date.now() < deadline;
    const pump = (): void => {
      while (inflight.size < slots && queued.length > 0 && claiming()) {
        const item = queued.shift() as ClaimedItem;
        inflight.set(
          item.id,
          this.deliver(item, tally).finally(() => {
            inflight.delete(item.id);
            pump();
            wakeup.notify();
          }),
        );
      }
    };
    const held = (): string[] => [...inflight.keys(), ...queued.map((item) => item.id)];
    try {
      for (;;) {
        pump();
        if (!claiming()) {
          await this.unclaim(queued.splice(0));
          if (inflight.size === 0) break;
          await wakeup.wait(this.config.requestTimeoutMs);
          continue;
        }
        const wanted = 2 * slots - inflight.size - queued.length;
        if (wanted < Math.ceil(slots / 2)) {
          // Enough claimed: wait for pushes to finish.
          await wakeup.wait(this.config.requestTimeoutMs);
          continue;
        }
        // Whatever "send now" was about is committed by now, so this claim covers it.
        this.rerun = false;
        const items = await this.claim(wanted, held());
        queued.push(...items);
        pump();
        // A full batch: more may be due at once.
        if (items.length === wanted) continue;
        if (queued.length > 0) {
          // Every slot is busy and nothing more is due now.
          await wakeup.wait(this.config.requestTimeoutMs);
          continue;
        }
        // Nothing more is due now: wait for a push to finish or for the next item to come due. Only
        // when nothing was in flight before the query may the pass end: a push finishing during the
        // query may have put its item back for a retry that the query did not see.
        const idle = inflight.size === 0;
        const next = await this.nextDue(held());
        if (idle && (next === null || next.getTime() > deadline)) break;
        const untilDue = next === null ? Number.POSITIVE_INFINITY : next.getTime() - Date.now();
        await wakeup.wait(Math.min(untilDue, deadline - Date.now(), this.config.requestTimeoutMs));
      }
      await Promise.all(inflight.values());
      tally.unmapped = await this.markUnmapped();
    } finally {
      // Also when a query failed: the run is recorded (and the lease released) only after its pushes.
      await Promise.all(inflight.values());
      await this.unclaim(queued.splice(0)).catch((error: unknown) => {
        this.logger.warn({ err: error }, 'connector claims not given back; they expire on their own');
      });
      this.wakeup = null;
      this.retries.clear();
      this.listings.clear();
      this.uncertain.clear();
    }
  }

  /** Gives back claimed items that were never pushed: pending again, the attempt not counted. */
  private async unclaim(items: ClaimedItem[]): Promise<void> {
    if (items.length === 0) return;
    await this.transactions.run(async (em) => {
      for (const item of items) {
        await em
          .createQueryBuilder()
          .update(ConnectorItem)
          .set({ state: ConnectorItemState.Pending, attempts: item.attempts - 1, lockedUntil: null })
          .where('id = :id AND state = :sending AND attempts = :attempts', { id: item.id, sending: ConnectorItemState.Sending, attempts: item.attempts })
          .execute();
      }
    });
  }

  /**
   * How long a claim lasts: the longest a push can take (a token request, the push, a token
   * refresh after a 401 and the push again), twice, as a claimed item may first wait in the queue
   * for a slot held by such a push; plus slack.
   */
  private get claimTtlMs(): number {
    return 2 * 4 * this.config.requestTimeoutMs + CLAIM_MARGIN_MS;
  }

  /**
   * Claims up to `limit` due items of mapped organizations: first claims abandoned by a runner
   * that died (sending, locked_until passed), then retries of this pass that have come due (see
   * `retries`), then the other pending items whose time has come, oldest first. One conditional UPDATE … RETURNING (SQLite ≥ 3.35 and PostgreSQL) whose WHERE is
   * checked again on the row being updated, so an item another runner claimed meanwhile is
   * skipped; PostgreSQL also skips rows a concurrent claim has locked instead of waiting for them.
   * Each item comes back with the tenant its organization is mapped to, read by the same statement.
   */
  private async claim(limit: number, exclude: string[]): Promise<ClaimedItem[]> {
    const now = new Date();
    const retries = this.dueRetries(now.getTime(), limit);
    const rows = await this.writeStatement((em) => {
      const mapped = mappedOrExempt('c');
      const arms = CLAIMABLE.map(
        ({ name, where, order }) =>
          `SELECT id FROM (
             SELECT c.id FROM connector_items c
              WHERE ${where('c.')}
                AND ${mapped}
                ${exclude.length > 0 ? 'AND c.id NOT IN (:...exclude)' : ''}
                ${name === 'due' && retries.length > 0 ? 'AND c.id NOT IN (:...retries)' : ''}
              ORDER BY c.${order}
              LIMIT :limit
              ${this.postgres ? 'FOR UPDATE SKIP LOCKED' : ''}) AS ${name}`,
      );
      if (retries.length > 0) {
        // Retries of this pass that have come due, by primary key, ahead of the other due items
        // (whose oldest are older than any retry and would otherwise hold every retry back until
        // the queue is empty, making the pass end on a tail of retries). At most `limit` ids,
        // soonest due first. No ORDER BY, and the due condition wrapped in IS TRUE, so that the
        // planners look the ids up rather than walk the due index for them.
        arms.splice(
          1,
          0,
          `SELECT id FROM (
             SELECT c.id FROM connector_items c
              WHERE c.id IN (:...retries) AND (${CLAIMABLE[1].where('c.')}) IS TRUE AND ${mapped}
              ${this.postgres ? 'FOR UPDATE SKIP LOCKED' : ''}) AS retried`,
        );
      }
      const [sql, params] = em.connection.driver.escapeQueryWithParameters(
        // A materialized CTE is evaluated once: as an IN (subquery), PostgreSQL may rescan the
        // LIMIT … SKIP LOCKED subquery for later rows and so claim more than `limit` items. The
        // re-check is wrapped in IS TRUE so that SQLite finds the rows by primary key instead of
        // walking the whole due range of the index for it.
        `WITH picked AS MATERIALIZED (${arms.join(' UNION ALL ')} LIMIT :limit)
         UPDATE connector_items
            SET state = :sending, locked_until = :lockedUntil, attempts = attempts + 1, updated_at = :now,
                -- An abandoned claim's outcome is unknown: NULL marks it (SET reads the row as it was).
                last_status = CASE WHEN state = :sending THEN NULL ELSE last_status END
          WHERE id IN (SELECT id FROM picked) AND (${CLAIMABLE.map(({ where }) => `(${where('')})`).join(' OR ')}) IS TRUE
          RETURNING id, organization_id, kind, body, attempts, last_status, created_at,
                    (SELECT m.acronis_tenant_id FROM organizations_mapping m WHERE m.organization_id = connector_items.organization_id) AS tenant_id,
                    (SELECT m.acronis_dc_url FROM organizations_mapping m WHERE m.organization_id = connector_items.organization_id) AS dc_url`,
        {
          pending: ConnectorItemState.Pending,
          sending: ConnectorItemState.Sending,
          now,
          lockedUntil: new Date(now.getTime() + this.claimTtlMs),
          exclude,
          retries,
          limit,
        },
        {},
      );
      return this.queryRows<ClaimedRow>(em, sql, params);
    });
    // Claimed now, or taken elsewhere meanwhile: either way no longer ours to put first.
    for (const id of retries) this.retries.delete(id);
    return rows.map((row): ClaimedItem => {
      const attempts = Number(row.attempts);
      const lastStatus = row.last_status === null ? null : Number(row.last_status);
      return {
        id: row.id,
        organizationId: row.organization_id,
        kind: row.kind,
        body: JSON.parse(row.body) as Record<string, unknown>,
        attempts,
        tenantId: row.tenant_id,
        dcUrl: row.dc_url,
        unsure: attempts > 1 && (lastStatus === null || lastStatus >= 500),
        createdAtMs: fromDbDate(row.created_at).getTime(),
      };
    });
  }

  /** Up to `limit` ids of this pass's retries due by `now`, soonest due first. */
  private dueRetries(now: number, limit: number): string[] {
    if (this.retries.size === 0) return [];
    const due: Array<[string, number]> = [];
    for (const entry of this.retries) if (entry[1] <= now) due.push(entry);
    return due
      .sort((a, b) => a[1] - b[1])
      .slice(0, limit)
      .map(([id]) => id);
  }

  /** The rows a statement returned, from the driver's structured result (a raw UPDATE … RETURNING comes back in a different shape from each driver). */
  private async queryRows<T>(em: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
    const runner = em.queryRunner ?? em.connection.createQueryRunner();
    try {
      const result = await runner.query(sql, params, true);
      return (result.records ?? []) as T[];
    } finally {
      if (runner !== em.queryRunner) await runner.release();
    }
  }

  /**
   * Runs a write that is a single statement (atomic by itself): on PostgreSQL straight from the
   * pool, without BEGIN/COMMIT round trips, concurrently with others; on SQLite through the
   * transaction queue, which every write on its one connection must go through.
   */
  private writeStatement<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.postgres ? work(this.dataSource.manager) : this.transactions.run(work);
  }

  /** When the next item of a mapped organization comes due (a retry, or a claim expiring), excluding ours in flight. */
  private nextDue(exclude: string[]): Promise<Date | null> {
    return this.transactions.run(async (em) => {
      const mapped = mappedOrExempt('i');
      const pending = await em
        .createQueryBuilder(ConnectorItem, 'i')
        .select(['i.id', 'i.nextAttemptAt'])
        .where('i.state = :state', { state: ConnectorItemState.Pending })
        .andWhere(mapped)
        .orderBy('i.nextAttemptAt', 'ASC')
        .limit(1)
        .getOne();
      const claimedQuery = em
        .createQueryBuilder(ConnectorItem, 'i')
        .select(['i.id', 'i.lockedUntil'])
        .where('i.state = :state', { state: ConnectorItemState.Sending })
        .andWhere(mapped);
      if (exclude.length > 0) claimedQuery.andWhere('i.id NOT IN (:...exclude)', { exclude });
      const claimed = await claimedQuery.orderBy('i.lockedUntil', 'ASC').limit(1).getOne();
      const times = [pending?.nextAttemptAt, claimed?.lockedUntil].filter((d): d is Date => d instanceof Date).map((d) => d.getTime());
      return times.length > 0 ? new Date(Math.min(...times)) : null;
    });
  }

  /** Says why pending items of unmapped organizations wait; returns how many wait so. */
  private markUnmapped(): Promise<number> {
    return this.transactions.run(async (em) => {
      const unmapped = `NOT ${mappedOrExempt('connector_items')}`;
      await em
        .createQueryBuilder()
        .update(ConnectorItem)
        .set({ waitingReason: NOT_MAPPED_REASON })
        .where('state = :state', { state: ConnectorItemState.Pending })
        .andWhere(unmapped)
        .andWhere('(waiting_reason IS NULL OR waiting_reason <> :reason)', { reason: NOT_MAPPED_REASON })
        .execute();
      const counted = await em
        .createQueryBuilder(ConnectorItem, 'connector_items')
        .where('connector_items.state = :state', { state: ConnectorItemState.Pending })
        .andWhere(unmapped)
        .getCount();
      return counted;
    });
  }

  /** Pushes one claimed item and records the outcome. Never rejects. */
  private async deliver(item: ClaimedItem, tally: Tally): Promise<void> {
    let outcome: DeliveryOutcome;
    const started = performance.now();
    try {
      outcome = await this.perform(item);
    } catch (error) {
      // The client classifies everything the API does; a throw is ours (a bad stored body): retry, then fail.
      this.logger.error({ err: error }, `connector item ${item.id}: push threw`);
      outcome = { kind: 'retry', status: null, error: messageOf(error), retryAfterMs: null };
    }
    try {
      if (await this.record(item, outcome, performance.now() - started)) this.count(item, outcome, tally);
      else this.logger.warn(`connector item ${item.id}: claim lost before its outcome was recorded (another runner owns it now)`);
    } catch (error) {
      // Left `sending`: its claim expires and the item is sent again, which is what a crash here would do too.
      this.logger.error({ err: error }, `connector item ${item.id}: outcome not recorded`);
    }
  }

  /** What one item asks of the Acronis API, by kind. */
  private perform(item: ClaimedItem): Promise<DeliveryOutcome> {
    switch (item.kind) {
      case ConnectorItemKind.Alert:
        return this.sendAlert(item);
      case ConnectorItemKind.AlertDismissal: {
        const body = item.body as unknown as AlertDismissalBody;
        return this.withKey(`alert:${body.alert_item_id}`, () => this.dismissAlertItem(item, body));
      }
      case ConnectorItemKind.Workload:
      case ConnectorItemKind.WorkloadRemoval: {
        const { type, key } = item.body as unknown as WorkloadRemovalBody;
        if (key === undefined) return this.pushLegacyWorkload(item);
        return this.withKey(workloadLock(item.organizationId, type, key), () => this.syncWorkloadItem(item, type, key));
      }
      default:
        return Promise.resolve({ kind: 'refused', error: `unknown item kind ${String(item.kind)}` });
    }
  }

  /** Why a data center may not be used (outside ACRONIS_DC_ALLOWED_HOSTS), or null. Null stands for ACRONIS_DC_URL. */
  private datacenterProblem(dcUrl: string | null): string | null {
    return dcUrl === null ? null : datacenterUrlProblem(dcUrl, this.config.allowedDcHosts);
  }

  /**
   * Creates the item's alert with an id derived from the item's, once: when an earlier attempt's
   * outcome is unknown, the id is looked up first, and an alert found is not sent again.
   */
  private async sendAlert(item: ClaimedItem): Promise<DeliveryOutcome> {
    if (item.tenantId === null) return { kind: 'unmapped' };
    const problem = this.datacenterProblem(item.dcUrl);
    if (problem) return { kind: 'refused', error: problem };
    const id = alertIdOf(item.id);
    if (item.unsure) {
      const found = await this.client.findAlert(item.dcUrl, id);
      if (found.kind !== 'ok') return found;
      if (found.value) return { kind: 'noop', remoteId: id };
    }
    return this.client.pushAlert(item.tenantId, item.body as unknown as AlertBody, {
      id,
      source: this.config.alertSource,
      sourceTimeStamp: item.createdAtMs,
      dcUrl: item.dcUrl,
    });
  }

  /**
   * Dismisses the alert an alert item created, where it was created. An alert not sent yet is
   * cancelled instead (nothing to dismiss); one being sent is waited for.
   */
  private async dismissAlertItem(item: ClaimedItem, body: AlertDismissalBody): Promise<DeliveryOutcome> {
    const target = await this.dataSource.manager.findOne(ConnectorItem, { where: { id: body.alert_item_id } });
    if (!target) return { kind: 'noop', remoteId: null };
    item.tenantId = target.acronisTenantId;
    item.dcUrl = target.acronisDcUrl;
    switch (target.state) {
      case ConnectorItemState.Pending: {
        const cancelled = await this.writeStatement((em) =>
          em
            .createQueryBuilder()
            .update(ConnectorItem)
            .set({ state: ConnectorItemState.Cancelled, waitingReason: `dismissed by item ${item.id} before it was sent`, nextAttemptAt: new Date() })
            .where('id = :id AND state = :pending', { id: target.id, pending: ConnectorItemState.Pending })
            .execute(),
        );
        return (cancelled.affected ?? 0) > 0 ? { kind: 'noop', remoteId: null } : { kind: 'defer', reason: 'the alert to dismiss changed state; looking again', delayMs: 0 };
      }
      case ConnectorItemState.Sending:
        return { kind: 'defer', reason: `waiting for alert item ${target.id} to be sent`, delayMs: DEFER_MS };
      case ConnectorItemState.Sent:
        if (target.dismissedAt !== null) return { kind: 'noop', remoteId: target.remoteId };
        return this.dismissRemote(target);
      default:
        // Failed or cancelled: never created, nothing to dismiss.
        return { kind: 'noop', remoteId: null };
    }
  }

  /** DELETEs a sent alert by its id where it was sent, and records it dismissed. */
  private async dismissRemote(target: Pick<ConnectorItem, 'id' | 'remoteId' | 'acronisDcUrl'>): Promise<DeliveryOutcome> {
    const problem = this.datacenterProblem(target.acronisDcUrl);
    if (problem) return { kind: 'refused', error: problem };
    const remoteId = target.remoteId ?? alertIdOf(target.id);
    const outcome = await this.client.dismissAlert(target.acronisDcUrl, remoteId);
    if (outcome.kind === 'sent') {
      await this.writeStatement((em) => em.update(ConnectorItem, { id: target.id }, { dismissedAt: new Date() }));
    }
    return outcome;
  }

  /** A workload item stored before workloads had keys: pushed once, as it always was. */
  private pushLegacyWorkload(item: ClaimedItem): Promise<DeliveryOutcome> {
    if (item.kind === ConnectorItemKind.WorkloadRemoval) return Promise.resolve({ kind: 'refused', error: 'a workload removal needs a key' });
    if (item.tenantId === null) return Promise.resolve({ kind: 'unmapped' });
    const problem = this.datacenterProblem(item.dcUrl);
    if (problem) return Promise.resolve({ kind: 'refused', error: problem });
    return this.client.pushWorkload(item.tenantId, item.body as unknown as WorkloadBody, item.dcUrl);
  }

  /** Brings one device's workload to what its row wants (see ConnectorWorkload), whichever of its items runs. */
  private async syncWorkloadItem(item: ClaimedItem, type: string, key: string): Promise<DeliveryOutcome> {
    const row = await findWorkloadRow(this.dataSource.manager, item.organizationId, type, key);
    if (!row) return { kind: 'refused', error: `no workload of type ${type} with key ${key} in this organization` };
    // Submitted again after this removal: the later submission wins (its own item syncs it).
    if (item.kind === ConnectorItemKind.WorkloadRemoval && !row.deleted) return { kind: 'noop', remoteId: row.remoteId };
    if (!row.deleted && item.tenantId === null) return { kind: 'unmapped' };
    // A 429 or another definite refusal created nothing: only an unknown outcome makes the cached listing untrustworthy.
    const careful = item.unsure;
    const outcome = await this.syncRow(row, row.deleted ? null : item.tenantId, item.dcUrl, careful);
    if (row.deleted || item.tenantId === null) {
      item.tenantId = null;
      item.dcUrl = null;
    }
    return outcome;
  }

  /**
   * The workload of `row` made to exist in `tenantId` (null: nowhere) with the row's desired body:
   * removed from another tenant it is in (unless CONNECTOR_CLEANUP_ON_UNMAP is off, when it is only
   * forgotten there), PATCHed by its id when the body changed, found by its key attribute when its
   * id is unknown, and POSTed only when not found. Records every step on the row before returning.
   * `careful`: an earlier attempt may have created it, so never trust the pass's cached listing.
   */
  private async syncRow(row: ConnectorWorkload, tenantId: string | null, dcUrl: string | null, careful: boolean): Promise<DeliveryOutcome> {
    if (row.acronisTenantId !== null && row.acronisTenantId !== tenantId) {
      if (row.deleted || this.config.cleanupOnUnmap) {
        const removed = await this.removeRemote(row);
        if (removed) return removed;
      }
      await this.saveRow(row, { acronisTenantId: null, acronisDcUrl: null, remoteId: null, syncedFingerprint: null });
    }
    if (tenantId === null) return { kind: 'noop', remoteId: null };
    if (row.acronisTenantId === tenantId && row.syncedFingerprint === row.desiredFingerprint) return { kind: 'noop', remoteId: row.remoteId };
    const problem = this.datacenterProblem(dcUrl);
    if (problem) return { kind: 'refused', error: problem };

    const body = workloadToSend(row.desiredBody, this.config.workloadKeyAttribute);
    const synced = (remoteId: string | null): Partial<ConnectorWorkload> => ({ acronisTenantId: tenantId, acronisDcUrl: dcUrl, remoteId, syncedFingerprint: row.desiredFingerprint });
    let remoteId = row.acronisTenantId === tenantId ? row.remoteId : null;
    for (let round = 0; round < 2; round++) {
      if (remoteId !== null) {
        const updated = await this.client.updateWorkload(dcUrl, remoteId, body);
        if (updated.kind === 'sent') {
          await this.saveRow(row, synced(remoteId));
          return { ...updated, remoteId };
        }
        if (updated.kind !== 'gone') return updated;
        // Deleted at Acronis meanwhile: look for it by key (never from the cached listing), else create it.
        await this.saveRow(row, { remoteId: null });
        careful = true;
      }
      const cached = !careful && row.syncedFingerprint === null && row.acronisTenantId === null && !this.uncertain.has(row.id);
      const found = await this.findWorkload(dcUrl, tenantId, row.type, row.vendorKey, cached);
      if (found.kind !== 'ok') return found;
      if (found.value === null) {
        const created = await this.client.pushWorkload(tenantId, body, dcUrl);
        if (created.kind === 'sent') await this.saveRow(row, synced(null));
        // A timeout or a 5xx may have created it: this pass no longer trusts its cached listing for it.
        else if (created.kind === 'retry' && (created.status === null || created.status >= 500)) this.uncertain.add(row.id);
        return created;
      }
      remoteId = found.value.id;
    }
    return { kind: 'retry', status: null, error: 'the workload vanished twice while being updated', retryAfterMs: null };
  }

  /** Deletes the row's workload where it is (found by key when its id is unknown); null when done, else the failed outcome. */
  private async removeRemote(row: ConnectorWorkload): Promise<DeliveryOutcome | null> {
    const tenantId = row.acronisTenantId;
    if (tenantId === null) return null;
    const problem = this.datacenterProblem(row.acronisDcUrl);
    if (problem) return { kind: 'refused', error: problem };
    let remoteId = row.remoteId;
    if (remoteId === null) {
      const found = await this.findWorkload(row.acronisDcUrl, tenantId, row.type, row.vendorKey, false);
      if (found.kind !== 'ok') return found;
      if (found.value === null) return null;
      remoteId = found.value.id;
    }
    const deleted = await this.client.deleteWorkload(row.acronisDcUrl, remoteId);
    return deleted.kind === 'sent' ? null : deleted;
  }

  /**
   * The workload of a tenant whose key attribute is `key`, or null. `cached`: from the pass's one
   * listing of the tenant's workloads of that type (shared by every item that needs it), which
   * is right for devices this pass has not written; otherwise listed afresh.
   */
  private async findWorkload(dcUrl: string | null, tenantId: string, type: string, key: string, cached: boolean): Promise<LookupOutcome<RemoteWorkload | null>> {
    const attribute = this.config.workloadKeyAttribute;
    const index = (workloads: RemoteWorkload[]): Map<string, RemoteWorkload> => {
      const byKey = new Map<string, RemoteWorkload>();
      for (const workload of workloads) {
        const value = workload.attributes[attribute];
        if (typeof value === 'string' && !byKey.has(value)) byKey.set(value, workload);
      }
      return byKey;
    };
    if (!cached) {
      const listed = await this.client.listWorkloads(dcUrl, tenantId, type);
      return listed.kind === 'ok' ? { kind: 'ok', value: index(listed.value).get(key) ?? null } : listed;
    }
    const cacheKey = `${dcUrl ?? ''}|${tenantId}|${type}`;
    let listing = this.listings.get(cacheKey);
    if (!listing) {
      listing = this.client.listWorkloads(dcUrl, tenantId, type).then((listed) => (listed.kind === 'ok' ? { kind: 'ok' as const, value: index(listed.value) } : listed));
      this.listings.set(cacheKey, listing);
      // A failed listing is not kept: the next item asks again.
      void listing.then((listed) => listed.kind !== 'ok' && this.listings.get(cacheKey) === listing && this.listings.delete(cacheKey));
    }
    const listed = await listing;
    return listed.kind === 'ok' ? { kind: 'ok', value: listed.value.get(key) ?? null } : listed;
  }

  /**
   * Records a step of a device's sync before its key is let go. On SQLite the rows of concurrent
   * pushes share a commit (GroupCommit); on PostgreSQL each is one autocommitted statement.
   */
  private async saveRow(row: ConnectorWorkload, changes: Partial<ConnectorWorkload>): Promise<void> {
    const write = (em: EntityManager) => em.update(ConnectorWorkload, { id: row.id }, changes as never);
    await (this.postgres ? write(this.dataSource.manager) : this.rowWrites.run(write));
    Object.assign(row, changes);
  }

  /** Runs `work` after every earlier work of the same key in this process has finished. */
  private async withKey<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.keyLocks.get(key) ?? Promise.resolve();
    const run = previous.then(work);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.keyLocks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.keyLocks.get(key) === tail) this.keyLocks.delete(key);
    }
  }

  /**
   * Clean-up of tenants that stopped being mapped (CONNECTOR_CLEANUP_ON_UNMAP): the gateway's
   * workloads still recorded in a tenant their organization is no longer mapped to are deleted
   * there, and its alerts sent there and not dismissed are dismissed. Derived from the stored
   * state at the start of every pass, so nothing is lost to a crash: what is not done is found
   * again by the next pass. Returns what it did.
   */
  private async cleanUpUnmapped(): Promise<{ workloads: number; alerts: number; failed: number }> {
    const done = { workloads: 0, alerts: 0, failed: 0 };
    if (!this.config.cleanupOnUnmap) return done;
    const em = this.dataSource.manager;
    const stale = (alias: string): string =>
      `NOT EXISTS (SELECT 1 FROM organizations_mapping m WHERE m.organization_id = ${alias}.organization_id AND m.acronis_tenant_id = ${alias}.acronis_tenant_id)`;
    const rows = await em
      .createQueryBuilder(ConnectorWorkload, 'w')
      .where('w.acronis_tenant_id IS NOT NULL')
      .andWhere(stale('w'))
      .orderBy('w.id')
      .limit(CLEANUP_BATCH)
      .getMany();
    const alerts = await em
      .createQueryBuilder(ConnectorItem, 'i')
      .select(['i.id', 'i.organizationId', 'i.remoteId', 'i.acronisTenantId', 'i.acronisDcUrl'])
      .where('i.kind = :alert AND i.state = :sent AND i.dismissed_at IS NULL AND i.acronis_tenant_id IS NOT NULL', { alert: ConnectorItemKind.Alert, sent: ConnectorItemState.Sent })
      .andWhere(stale('i'))
      .orderBy('i.id')
      .limit(CLEANUP_BATCH)
      .getMany();
    if (rows.length === 0 && alerts.length === 0) return done;
    const tasks: Array<() => Promise<void>> = [
      ...rows.map((stored) => () =>
        this.withKey(workloadLock(stored.organizationId, stored.type, stored.vendorKey), async () => {
          // Read again under the key: an item may have moved it meanwhile.
          const row = await em.findOne(ConnectorWorkload, { where: { id: stored.id } });
          if (!row || row.acronisTenantId === null || row.acronisTenantId === (await this.mappedTenant(row.organizationId))) return;
          const failed = await this.removeRemote(row);
          if (failed) throw new Error(`workload ${row.id}: ${'error' in failed ? failed.error : failed.kind}`);
          await this.saveRow(row, { acronisTenantId: null, acronisDcUrl: null, remoteId: null, syncedFingerprint: null });
          done.workloads += 1;
        }),
      ),
      ...alerts.map((alert) => () =>
        this.withKey(`alert:${alert.id}`, async () => {
          const outcome = await this.dismissRemote(alert);
          if (outcome.kind !== 'sent') throw new Error(`alert item ${alert.id}: ${'error' in outcome ? outcome.error : outcome.kind}`);
          done.alerts += 1;
        }),
      ),
    ];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < tasks.length && !this.stopping) {
        const task = tasks[next++];
        try {
          await task();
        } catch (error) {
          done.failed += 1;
          this.logger.warn(`connector clean-up of an unmapped tenant failed (tried again next run): ${messageOf(error)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.concurrency, tasks.length) }, worker));
    this.logger.log(`connector clean-up of unmapped tenants: ${done.workloads} workloads deleted, ${done.alerts} alerts dismissed, ${done.failed} failed`);
    return done;
  }

  private async mappedTenant(organizationId: string): Promise<string | null> {
    const rows: Array<{ acronis_tenant_id: string }> = await this.dataSource.manager
      .createQueryBuilder()
      .select('m.acronis_tenant_id', 'acronis_tenant_id')
      .from('organizations_mapping', 'm')
      .where('m.organization_id = :organizationId', { organizationId })
      .getRawMany();
    return rows[0]?.acronis_tenant_id ?? null;
  }

  private count(item: ClaimedItem, outcome: DeliveryOutcome, tally: Tally): void {
    tally.waiting.delete(item.id);
    if (outcome.kind === 'sent' || outcome.kind === 'noop') tally.sent += 1;
    else if (outcome.kind === 'reject' || outcome.kind === 'refused' || (outcome.kind === 'retry' && item.attempts >= this.config.maxAttempts)) tally.failed += 1;
    else if (outcome.kind === 'defer') tally.waiting.add(item.id);
    else if (outcome.kind === 'retry') tally.waiting.add(item.id);
    // 'unmapped' is counted with the other items of unmapped organizations at the end of the pass.
    tally.onProgress?.({ sent: tally.sent, failed: tally.failed, retrying: tally.waiting.size });
  }

  /**
   * Writes the outcome and resolves once it is durable: true if the claim still held. A push's slot
   * is freed only then, so a crash repeats at most `concurrency` pushes. Outcomes finishing together
   * are written together, one write at a time: the first at the end of this turn of the event loop,
   * then, once it is durable, every outcome that finished meanwhile. On SQLite a write is one
   * transaction (a group commit: one sync for all of them), on PostgreSQL one statement.
   */
  private record(item: ClaimedItem, outcome: DeliveryOutcome, durationMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.writes.push({ item, outcome, at: new Date(), durationMs, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void (this.postgres ? this.flushPostgres() : this.flush()));
      }
    });
  }

  /** Writes every queued outcome in one transaction, then whatever queued up meanwhile (SQLite). */
  private async flush(): Promise<void> {
    while (this.writes.length > 0) {
      const batch = this.writes.splice(0);
      for (let attempt = 1; ; attempt++) {
        try {
          const applied = await this.transactions.run(async (em) => {
            const results: Array<{ applied: boolean; changes: Partial<ConnectorItem> }> = [];
            for (const write of batch) {
              const changes = this.changesFor(write.item, write.outcome, write.at);
              results.push({ applied: await this.apply(em, write.item, changes), changes });
            }
            await this.audit.record(
              em,
              batch.flatMap((write, index) => {
                const entry = results[index].applied ? this.auditOf(write, results[index].changes) : null;
                return entry ? [entry] : [];
              }),
            );
            return results;
          });
          batch.forEach((write, index) => this.settle(write, applied[index].applied, applied[index].changes));
          break;
        } catch (error) {
          if (!isConcurrencyConflict(error) || attempt >= OUTCOME_WRITE_ATTEMPTS) {
            const failure = error instanceof Error ? error : new Error(String(error));
            for (const write of batch) write.reject(failure);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
        }
      }
    }
    this.flushing = false;
  }

  /**
   * Writes every queued outcome in one statement, then whatever queued up meanwhile (PostgreSQL).
   * One statement at a time: measured on the benchmark, letting each outcome (or each turn's
   * outcomes) go out at once, concurrently, costs more than it saves (1.7-1.9x the ideal against
   * 1.4-1.5x), as every statement in flight is a database backend awake on the same CPUs.
   */
  private async flushPostgres(): Promise<void> {
    while (this.writes.length > 0) {
      const batch = this.writes.splice(0, OUTCOME_BATCH_MAX).map((write) => ({ write, changes: this.changesFor(write.item, write.outcome, write.at) }));
      try {
        const applied = await this.writeOutcomes(batch);
        for (const { write, changes } of batch) this.settle(write, applied.has(write.item.id), changes);
      } catch (error) {
        if (batch.length === 1) {
          batch[0].write.reject(error instanceof Error ? error : new Error(String(error)));
          continue;
        }
        // A value one outcome holds (a remote id too long for its column, say) must not leave the
        // others unrecorded, and so sent again later: each on its own.
        for (const row of batch) {
          try {
            this.settle(row.write, (await this.writeOutcomes([row])).has(row.write.item.id), row.changes);
          } catch (rowError) {
            row.write.reject(rowError instanceof Error ? rowError : new Error(String(rowError)));
          }
        }
      }
    }
    this.flushing = false;
  }

  /**
   * One OUTCOME_BATCH_SQL statement (autocommitted, so durable when it returns), straight from
   * the pg pool as a prepared statement; the ids of the rows it updated.
   */
  private async writeOutcomes(rows: Array<{ write: PendingWrite; changes: Partial<ConnectorItem> }>): Promise<Set<string>> {
    const payload = JSON.stringify(
      rows.map(({ write, changes }) => ({ ...changes, id: write.item.id, claim: write.item.attempts })),
      storable,
    );
    const audited = pgAuditParameters(
      rows.flatMap(({ write, changes }) => {
        const entry = this.auditOf(write, changes);
        return entry ? [{ key: write.item.id, entry }] : [];
      }),
    );
    const pool = (this.dataSource.driver as PostgresDriver).master as Pool;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await pool.query<{ id: string }>({ name: OUTCOME_STATEMENT, text: OUTCOME_BATCH_SQL, values: [payload, ...audited] });
        return new Set(result.rows.map((row) => row.id));
      } catch (error) {
        if (!isConcurrencyConflict(error) || attempt >= OUTCOME_WRITE_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
      }
    }
  }

  /**
   * The audit record of a push (docs/audit.md): every request the item's attempt made to the API,
   * sent, unchanged or failed; none when nothing was attempted (deferred, not mapped). Written
   * with the outcome, in its transaction (SQLite) or its statement (PostgreSQL).
   */
  private auditOf(write: OutcomeWrite, changes: Partial<ConnectorItem>): AuditEntry | null {
    const { item, outcome } = write;
    if (outcome.kind === 'defer' || outcome.kind === 'unmapped') return null;
    const ok = outcome.kind === 'sent' || outcome.kind === 'noop';
    const status = outcome.kind === 'noop' || outcome.kind === 'refused' ? null : outcome.status;
    return {
      at: write.at,
      kind: AuditKind.ConnectorPush,
      name: item.kind,
      outcome: ok ? AuditOutcome.Ok : AuditOutcome.Failed,
      code: status !== null ? String(status) : outcome.kind === 'retry' ? 'network' : outcome.kind,
      organizationId: item.organizationId,
      tenantId: item.tenantId,
      workId: item.id,
      durationMs: write.durationMs,
      detail: { attempt: item.attempts, state: changes.state ?? null },
    };
  }

  /** Resolves a write, noting a retry this pass should send as soon as it comes due. */
  private settle(write: PendingWrite, applied: boolean, changes: Partial<ConnectorItem>): void {
    if (applied && (write.outcome.kind === 'retry' || write.outcome.kind === 'defer') && changes.state === ConnectorItemState.Pending && changes.nextAttemptAt) {
      this.retries.set(write.item.id, changes.nextAttemptAt.getTime());
    }
    write.resolve(applied);
  }

  /** Writes one outcome, fenced by the claim: false when the item is no longer ours (SQLite). */
  private async apply(em: EntityManager, item: ClaimedItem, changes: Partial<ConnectorItem>): Promise<boolean> {
    const result = await em
      .createQueryBuilder()
      .update(ConnectorItem)
      .set(changes)
      .where('id = :id AND state = :sending AND attempts = :attempts', { id: item.id, sending: ConnectorItemState.Sending, attempts: item.attempts })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  private changesFor(item: ClaimedItem, outcome: DeliveryOutcome, at: Date): Partial<ConnectorItem> {
    switch (outcome.kind) {
      case 'sent':
      case 'noop':
        return {
          state: ConnectorItemState.Sent,
          sentAt: at,
          remoteId: outcome.remoteId,
          lastStatus: outcome.kind === 'sent' ? outcome.status : null,
          lastError: null,
          waitingReason: null,
          lockedUntil: null,
          acronisTenantId: item.tenantId,
          acronisDcUrl: item.dcUrl,
        };
      case 'refused':
        return {
          state: ConnectorItemState.Failed,
          lastStatus: null,
          lastError: outcome.error.slice(0, MAX_ERROR_LENGTH),
          waitingReason: null,
          lockedUntil: null,
          acronisTenantId: item.tenantId,
          acronisDcUrl: item.dcUrl,
        };
      case 'defer':
        return {
          state: ConnectorItemState.Pending,
          attempts: item.attempts - 1,
          nextAttemptAt: new Date(at.getTime() + outcome.delayMs),
          lockedUntil: null,
          waitingReason: outcome.reason.slice(0, 255),
        };
      case 'reject':
        return {
          state: ConnectorItemState.Failed,
          lastStatus: outcome.status,
          lastError: outcome.error.slice(0, MAX_ERROR_LENGTH),
          waitingReason: null,
          lockedUntil: null,
          acronisTenantId: item.tenantId,
          acronisDcUrl: item.dcUrl,
        };
      case 'unmapped':
        // Not the item's fault and no push happened: the attempt is given back.
        return {
          state: ConnectorItemState.Pending,
          attempts: item.attempts - 1,
          nextAttemptAt: at,
          lockedUntil: null,
          waitingReason: NOT_MAPPED_REASON,
        };
      case 'retry': {
        const base = {
          lastStatus: outcome.status,
          lastError: outcome.error.slice(0, MAX_ERROR_LENGTH),
          lockedUntil: null,
          acronisTenantId: item.tenantId,
        };
        if (item.attempts >= this.config.maxAttempts) {
          return { ...base, state: ConnectorItemState.Failed, waitingReason: null };
        }
        const nextAttemptAt = new Date(at.getTime() + this.retryDelayMs(item.attempts, outcome.retryAfterMs));
        return {
          ...base,
          state: ConnectorItemState.Pending,
          nextAttemptAt,
          waitingReason: `retrying at ${nextAttemptAt.toISOString()} (attempt ${item.attempts} of ${this.config.maxAttempts} failed)`,
        };
      }
    }
  }

  /** The shared backoff (full jitter, never sooner than Retry-After) with the connector's settings. */
  retryDelayMs(attempts: number, retryAfterMs: number | null): number {
    return backoffDelayMs(attempts, retryAfterMs, { baseMs: this.config.backoffBaseMs, maxMs: this.config.backoffMaxMs });
  }
}

import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { debounceTime, Subscription } from 'rxjs';
import { DataSource, EntityManager } from 'typeorm';
import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditEntry, AuditService, pgAuditInsertOf, pgAuditParameters } from '../audit/audit.service';
import { backoffDelayMs } from '../common/backoff';
import { connectorConfig, ConnectorConfig } from '../config/connector.config';
import { GroupCommit } from '../database/group-commit';
import { LeaseService } from '../database/lease.service';
import { fromDbDate } from '../database/raw-dates';
import { TransactionRunner } from '../database/transaction-runner.service';
import { OutboxService } from '../events/outbox.service';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import type { Settled, SettleWith, Verdict, WorkItem, WorkOutcome, WorkProcessor, WorkQueueTable } from '../work-core/work-queue';
import { WorkRunner } from '../work-core/work-runner';
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
/** How often a pass looks for items other replicas put back or whose claims expired. */
const POLL_MS = 1000;
const MAX_ERROR_LENGTH = 2000;

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
 * `connector_items` as the work core leases it (docs/work-core.md): oldest first (the key, the
 * organization, only names the items in metrics), items of mapped organizations only, except
 * dismissals and removals, which act where an earlier item went. An outcome writes every column
 * it may change, carrying the others over from the claim (`payloadColumns`).
 */
const CONNECTOR_ITEMS: WorkQueueTable = {
  name: 'connector_items',
  table: 'connector_items',
  keyColumn: 'organization_id',
  pendingState: ConnectorItemState.Pending,
  leasedState: ConnectorItemState.Sending,
  doneState: ConnectorItemState.Sent,
  failedState: ConnectorItemState.Failed,
  payloadColumns: ['kind', 'body', 'created_at', 'remote_id', 'last_status', 'last_error', 'acronis_tenant_id', 'acronis_dc_url', 'sent_at'],
  rowGate: mappedOrExempt('c'),
  // The tenant and data center the item's organization is mapped to now, read by the claim itself.
  returning: ['acronis_tenant_id', 'acronis_dc_url'].map(
    (c) => `(SELECT m.${c} FROM organizations_mapping m WHERE m.organization_id = connector_items.organization_id) AS mapped_${c.slice(8)}`,
  ),
  // An abandoned claim's outcome is unknown: a NULL status marks it (see `unsure`).
  takeoverResets: ['last_status'],
  completedColumn: null,
  outcomeColumns: {
    remote_id: 'varchar',
    last_status: 'integer',
    last_error: 'text',
    waiting_reason: 'varchar',
    sent_at: 'timestamptz',
    acronis_tenant_id: 'varchar',
    acronis_dc_url: 'varchar',
  },
  interruptedValues: { last_status: null },
};

/** An item's columns as the claim returns them. */
interface ItemRow {
  kind: ConnectorItemKind;
  body: string;
  created_at: Date | string;
  remote_id: string | null;
  last_status: number | string | null;
  last_error: string | null;
  acronis_tenant_id: string | null;
  acronis_dc_url: string | null;
  sent_at: Date | string | null;
  /** The organization's mapping when claimed (null: not mapped). */
  mapped_tenant_id: string | null;
  mapped_dc_url: string | null;
}

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
  /** Why the stored body cannot be read (the item fails with it), or null. */
  unreadable: string | null;
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

/** One push: what it came to, when, and how long it took (its audit record's duration). */
interface PushResult {
  outcome: DeliveryOutcome;
  at: Date;
  durationMs: number;
}

type Item = WorkItem<ItemRow, ClaimedItem>;
type ItemOutcome = WorkOutcome<ItemRow, ClaimedItem, PushResult>;

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
 * mapped to, under the database lease so that one replica at a time does it (docs/architecture.md,
 * flow 4, and "Several replicas").
 *
 * A pass is a run of the work core's runner over `connector_items` (docs/work-core.md), which
 * claims, renews the claims, writes outcomes fenced by the attempt number, retries with backoff
 * and gives back; it ends once nothing it holds is left and nothing comes due before the pass's
 * deadline. This class is its processor: it pushes one item (alerts once, workloads synced by
 * key, dismissals where the alert went) and records its audit record, and it records the runs.
 */
@Injectable()
export class ConnectorRunner implements OnModuleInit, BeforeApplicationShutdown, WorkProcessor<ItemRow, ClaimedItem, PushResult> {
  private readonly logger = new Logger(ConnectorRunner.name);
  /** This process, for the lease and the run rows: stable for its lifetime, unique across restarts. */
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private active: Promise<ConnectorRun | null> | null = null;
  private pass: { runner: WorkRunner<ItemRow, ClaimedItem, PushResult>; tally: Tally } | null = null;
  /** "Send now" arrived during a run and no claim began since: run again after it. */
  private rerun = false;
  private stopping = false;
  /** The run's lease was lost (another replica took it over): its pass claims nothing more. */
  private leaseLost = false;
  private subscription: Subscription | null = null;
  private readonly postgres: boolean;
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
    private readonly registry: Registry,
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
    void this.pass?.runner.stop();
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
    if (!this.active) {
      void this.runOnce('api');
      return;
    }
    // The next claim covers it (what "send now" was about is committed by now) and clears this;
    // without one before the run ends, another run follows.
    this.rerun = true;
    this.pass?.runner.notify();
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
      await this.runPass(tally);
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
        void this.pass?.runner.stop();
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
      const run = this.newRun(trigger, startedAt, ConnectorRunStatus.Running, null, null);
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
    return this.newRun(trigger, startedAt, ConnectorRunStatus.Failed, new Date(), messageOf(error));
  }

  /** A run of this holder that has pushed nothing yet. */
  private newRun(trigger: ConnectorRunTrigger, startedAt: Date, status: ConnectorRunStatus, finishedAt: Date | null, error: string | null): ConnectorRun {
    return Object.assign(new ConnectorRun(), { id: randomUUID(), trigger, holder: this.holder, status, startedAt, finishedAt, sent: 0, failed: 0, skipped: 0, error });
  }

  /**
   * Sends due items with at most `concurrency` pushes in flight, on the work core's runner: claims
   * run ahead of the pushes, this pass's retries are taken first once due, and the pass waits for
   * retries that come due before its deadline (CONNECTOR_MAX_PASS_SECONDS). It stops claiming at
   * the deadline, at shutdown or when the lease is lost (giving back what it claimed ahead), and
   * returns once every push has been recorded.
   */
  private async runPass(tally: Tally): Promise<void> {
    if (this.postgres) {
      // Items are often inserted in bulk just before a pass; stale statistics make the planner
      // scan every pending row per claim (measured 41.8 s → 36.4 s for 10,000 items). ANALYZE
      // takes no lock that blocks reads or writes.
      await this.dataSource.query('ANALYZE connector_items');
    }
    this.listings.clear();
    this.uncertain.clear();
    try {
      tally.cleanup = await this.cleanUpUnmapped();
      const runner = new WorkRunner(
        this.dataSource,
        this.transactions,
        CONNECTOR_ITEMS,
        this,
        {
          concurrency: this.config.concurrency,
          // No limit per organization: the Acronis API's own (429 with Retry-After) is what holds back.
          perKeyLimit: this.config.concurrency,
          maxAttempts: this.config.maxAttempts,
          backoff: { baseMs: this.config.backoffBaseMs, maxMs: this.config.backoffMaxMs },
          pollMs: POLL_MS,
          leaseMs: this.claimTtlMs,
          // At the pass's end its pushes finish: none takes longer than a claim lasts.
          shutdownGraceMs: this.claimTtlMs,
          retriesFirst: true,
          onClaim: () => (this.rerun = false),
          // Claimed ahead, an item waits for a push and its outcome's write: longer than the default second when the API is slow.
          readyMaxWaitMs: 4 * this.config.requestTimeoutMs,
          // A crash repeats at most the pushes in flight (CONNECTOR_CONCURRENCY).
          slotUntilRecorded: true,
          // Claims of at least half the slots: a claim costs about as much as several pushes' outcomes.
          claimAtLeast: Math.ceil(this.config.concurrency / 2),
        },
        this.registry,
      );
      // Lost (or shutting down) before the runner existed: it claims nothing.
      if (!this.stopping && !this.leaseLost) {
        this.pass = { runner, tally };
        runner.start(Date.now() + this.config.maxPassMs);
        try {
          await runner.finished();
        } finally {
          // Also when a claim failed: the run is recorded (and the lease released) only after its pushes.
          await runner.stop();
        }
      }
      tally.unmapped = await this.markUnmapped();
    } finally {
      this.pass = null;
      this.listings.clear();
      this.uncertain.clear();
    }
  }

  /** The claimed items as pushes: each with the tenant and data center its organization was mapped to when claimed. */
  prepare(_em: EntityManager, items: Item[]): Promise<void> {
    for (const item of items) {
      const { row } = item;
      const lastStatus = row.last_status === null ? null : Number(row.last_status);
      let body: Record<string, unknown> = {};
      let unreadable: string | null = null;
      try {
        body = JSON.parse(row.body) as Record<string, unknown>;
      } catch (error) {
        // One item's broken body fails that item, not the claim it came with.
        unreadable = `the stored body is not JSON (${messageOf(error)})`;
      }
      item.context = {
        id: item.id,
        organizationId: item.key,
        kind: row.kind,
        body,
        unreadable,
        attempts: item.attempts,
        tenantId: row.mapped_tenant_id,
        dcUrl: row.mapped_dc_url,
        unsure: item.attempts > 1 && (lastStatus === null || lastStatus >= 500),
        createdAtMs: fromDbDate(row.created_at).getTime(),
      };
    }
    return Promise.resolve();
  }

  /** Pushes one claimed item. Never rejects. */
  async perform(item: Item): Promise<PushResult> {
    const started = performance.now();
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.push(item.context as ClaimedItem);
    } catch (error) {
      // The client classifies everything the API does; a throw is ours (a bad stored body): retry, then fail.
      this.logger.error({ err: error }, `connector item ${item.id}: push threw`);
      outcome = { kind: 'retry', status: null, error: messageOf(error), retryAfterMs: null };
    }
    return { outcome, at: new Date(), durationMs: performance.now() - started };
  }

  /**
   * The verdict and the columns an outcome writes: every column it may change, those it leaves as
   * they were carried over from the claim. Deferred and unmapped items are given back, the attempt
   * not counted.
   */
  judge(item: Item, { outcome, at }: PushResult): { verdict: Verdict; values: Record<string, unknown> | ((settled: Settled, next: Date) => Record<string, unknown>) } {
    const { row } = item;
    const pushed = item.context as ClaimedItem;
    const kept = {
      remote_id: row.remote_id,
      last_status: row.last_status === null ? null : Number(row.last_status),
      last_error: row.last_error,
      sent_at: row.sent_at,
      acronis_tenant_id: row.acronis_tenant_id,
      acronis_dc_url: row.acronis_dc_url,
    };
    const where = { acronis_tenant_id: pushed.tenantId, acronis_dc_url: pushed.dcUrl };
    switch (outcome.kind) {
      case 'sent':
      case 'noop':
        return {
          verdict: { kind: 'done' },
          values: { ...where, sent_at: at, remote_id: outcome.remoteId, last_status: outcome.kind === 'sent' ? outcome.status : null, last_error: null, waiting_reason: null },
        };
      case 'refused':
      case 'reject':
        return {
          verdict: { kind: 'failed' },
          values: { ...kept, ...where, last_status: outcome.kind === 'reject' ? outcome.status : null, last_error: outcome.error.slice(0, MAX_ERROR_LENGTH), waiting_reason: null },
        };
      case 'defer':
        return { verdict: { kind: 'later', delayMs: outcome.delayMs }, values: { ...kept, waiting_reason: outcome.reason.slice(0, 255) } };
      case 'unmapped':
        // Not the item's fault and no push happened.
        return { verdict: { kind: 'later', delayMs: 0 }, values: { ...kept, waiting_reason: NOT_MAPPED_REASON } };
      case 'retry':
        return {
          verdict: { kind: 'retry', retryAfterMs: outcome.retryAfterMs },
          values: (settled, next) => ({
            ...kept,
            acronis_tenant_id: pushed.tenantId,
            last_status: outcome.status,
            last_error: outcome.error.slice(0, MAX_ERROR_LENGTH),
            waiting_reason: settled === 'failed' ? null : `retrying at ${next.toISOString()} (attempt ${item.attempts} of ${this.config.maxAttempts} failed)`,
          }),
        };
    }
  }

  /** PostgreSQL: the audit records, written by the statement that settles the batch. */
  settleWith(outcomes: readonly ItemOutcome[], _now: Date, first: number): SettleWith | null {
    if (!this.postgres) return null;
    const audited = outcomes.flatMap((o) => {
      const entry = auditOf(o);
      return entry ? [{ key: o.item.id, entry }] : [];
    });
    return { ctes: `audited AS (${pgAuditInsertOf('settled', first)})`, params: pgAuditParameters(audited) };
  }

  /** PostgreSQL: an outcome batch is its settle statement alone (the audit records are in it). */
  settlesAlone(): boolean {
    return this.postgres;
  }

  /** SQLite: the audit records of the outcomes applied, in their transaction. */
  async record(em: EntityManager, outcomes: ItemOutcome[]): Promise<void> {
    if (this.postgres) return;
    await this.audit.record(em, outcomes.filter((o) => o.applied).flatMap((o) => auditOf(o) ?? []));
  }

  /** Once committed: the pass's tally. */
  committed(outcomes: ItemOutcome[]): void {
    const tally = this.pass?.tally;
    for (const { item, result, settled, later, applied } of outcomes) {
      if (!applied) {
        this.logger.warn(`connector item ${item.id}: claim lost before its outcome was recorded (another runner owns it now)`);
        continue;
      }
      if (!tally) continue;
      tally.waiting.delete(item.id);
      if (settled === 'done') tally.sent += 1;
      else if (settled === 'failed') tally.failed += 1;
      // 'unmapped' is counted with the other items of unmapped organizations at the end of the pass.
      else if (!later || result.outcome.kind === 'defer') tally.waiting.add(item.id);
      tally.onProgress?.({ sent: tally.sent, failed: tally.failed, retrying: tally.waiting.size });
    }
  }

  /**
   * How long a claim lasts unless renewed (the runner renews it every third of that): the longest
   * a push can take (a token request, the push, a token refresh after a 401 and the push again),
   * twice, plus slack; also how long the pushes in flight at a pass's end may take.
   */
  private get claimTtlMs(): number {
    return 2 * 4 * this.config.requestTimeoutMs + CLAIM_MARGIN_MS;
  }

  /**
   * Runs a write that is a single statement (atomic by itself): on PostgreSQL straight from the
   * pool, without BEGIN/COMMIT round trips, concurrently with others; on SQLite through the
   * transaction queue, which every write on its one connection must go through.
   */
  private writeStatement<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.postgres ? work(this.dataSource.manager) : this.transactions.run(work);
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
      return em
        .createQueryBuilder(ConnectorItem, 'connector_items')
        .where('connector_items.state = :state', { state: ConnectorItemState.Pending })
        .andWhere(unmapped)
        .getCount();
    });
  }

  /** What one item asks of the Acronis API, by kind. */
  private push(item: ClaimedItem): Promise<DeliveryOutcome> {
    if (item.unreadable) return Promise.resolve({ kind: 'refused', error: item.unreadable });
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
    return (await this.dataSource.manager.findOneBy(OrganizationMapping, { organizationId }))?.acronisTenantId ?? null;
  }

  /** The shared backoff (full jitter, never sooner than Retry-After) with the connector's settings. */
  retryDelayMs(attempts: number, retryAfterMs: number | null): number {
    return backoffDelayMs(attempts, retryAfterMs, { baseMs: this.config.backoffBaseMs, maxMs: this.config.backoffMaxMs });
  }
}

/**
 * The audit record of a push (docs/audit.md): every request the item's attempt made to the API,
 * sent, unchanged or failed; none when nothing was attempted (deferred, not mapped). Written with
 * the outcome, in its transaction (SQLite) or its statement (PostgreSQL).
 */
function auditOf({ item, result: { outcome, at, durationMs }, settled }: ItemOutcome): AuditEntry | null {
  if (outcome.kind === 'defer' || outcome.kind === 'unmapped') return null;
  const pushed = item.context as ClaimedItem;
  const ok = outcome.kind === 'sent' || outcome.kind === 'noop';
  const status = outcome.kind === 'noop' || outcome.kind === 'refused' ? null : outcome.status;
  return {
    at,
    kind: AuditKind.ConnectorPush,
    name: pushed.kind,
    outcome: ok ? AuditOutcome.Ok : AuditOutcome.Failed,
    code: status !== null ? String(status) : outcome.kind === 'retry' ? 'network' : outcome.kind,
    organizationId: pushed.organizationId,
    tenantId: pushed.tenantId,
    workId: item.id,
    durationMs,
    detail: { attempt: item.attempts, state: settled === 'done' ? ConnectorItemState.Sent : settled === 'failed' ? ConnectorItemState.Failed : ConnectorItemState.Pending },
  };
}

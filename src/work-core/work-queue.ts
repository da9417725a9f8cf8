import type { EntityManager } from 'typeorm';

/** A column's PostgreSQL type, for the typed record sets a batch is written from. */
export type PgType = 'integer' | 'text' | 'varchar' | 'timestamptz' | 'boolean';

/**
 * A table the work core leases rows of. Every such table has the columns `id` (text primary key),
 * `state`, `attempts` (integer: attempts started, and the lease's fencing token),
 * `next_attempt_at`, `locked_until` (the lease's end), `updated_at` and (unless `completedColumn`
 * is null) `completed_at`, plus a key column: at most `perKeyLimit` rows of one key are attempted
 * at once.
 */
export interface WorkQueueTable {
  /** Names the queue in metrics and logs. */
  name: string;
  table: string;
  /** The column of the per-key limit (a subscription, a source, ...). */
  keyColumn: string;
  /** The state of a row waiting for its `next_attempt_at`, and of a leased row. */
  pendingState: string;
  leasedState: string;
  /** The states of a row done with for good: succeeded, and failed (no retry will help, or attempts ran out). */
  doneState: string;
  failedState: string;
  /** Columns read by the claim besides id, key and attempts. */
  payloadColumns: readonly string[];
  /**
   * Only rows whose key is a row of `table` passing `where` are claimed (a disabled subscription's
   * deliveries wait). `where` uses `?` placeholders and refers to the key table as `g`.
   * `columns`: on PostgreSQL the claim statement also returns these columns of each row's key row,
   * as `key_<column>`, so that `prepare` need not read them (the claim stays one statement).
   */
  keyGate?: { table: string; where: string; params: readonly unknown[]; columns?: readonly string[] };
  /**
   * Without a key gate: rows are claimed oldest first straight from the (state, next_attempt_at)
   * index (keys are many and small, e.g. organizations: a pass over them would cost more than it
   * saves), those meeting `rowGate` only: SQL on the row aliased `c`, no parameters.
   */
  rowGate?: string;
  /**
   * Oldest-first tables: more SQL expressions the claim returns with each row (same statement),
   * referring to the table by its name, e.g. a subquery of a related row.
   */
  returning?: readonly string[];
  /** Columns set to NULL when a claim takes over an expired lease (what the dead holder's attempt did is unknown). */
  takeoverResets?: readonly string[];
  /** The column a final outcome stamps with its time (default `completed_at`); null: none. */
  completedColumn?: string | null;
  /** Columns an outcome writes besides the state, with their PostgreSQL type (for a typed record set). */
  outcomeColumns: Readonly<Record<string, PgType>>;
  /**
   * Optional: a history row written with each outcome applied (deliveries: the attempt), in the
   * same statement on PostgreSQL. `rowColumn` receives the queue row's id.
   */
  history?: { table: string; rowColumn: string; columns: Readonly<Record<string, PgType>> };
  /** What a row given back after an interrupted attempt has in `outcomeColumns`. */
  interruptedValues: Readonly<Record<string, unknown>>;
  /**
   * Optional: first in, first out within a group (rows with equal `group` columns). A row is claimed
   * only while no other row of its group holds a live lease and none pending or leased comes before
   * it in `by` order (ties by id): one row of a group at a time, in order.
   */
  ordered?: { group: readonly string[]; by: string };
}

/** A leased row, as claimed. */
export interface WorkItem<Row, Context> {
  id: string;
  key: string;
  /** After the claim: the fencing token of every later write. */
  attempts: number;
  /** When it was claimed here (ms). */
  claimedAt: number;
  row: Row;
  /** What the processor loaded for it in the claim's transaction (undefined: gone meanwhile, skipped). */
  context?: Context;
}

/** What became of an attempt, as the processor judges it. */
export type Verdict =
  /** Done for good (succeeded); `state`: another final state of the table than its `doneState` (e.g. skipped). */
  | { kind: 'done'; state?: string }
  /** Failed for good: no retry will help (blocked, gone). */
  | { kind: 'failed'; state?: string }
  /** Failed this time: retried after the backoff, not sooner than `retryAfterMs`, until the attempts run out. */
  | { kind: 'retry'; retryAfterMs: number | null }
  /** Not attempted after all (its turn has not come, it cannot be yet): pending again in `delayMs`, the attempt not counted. */
  | { kind: 'later'; delayMs: number };

/** The state an outcome writes. */
export type Settled = 'done' | 'retry' | 'failed';

/** One attempt's outcome as written (or not: `applied` false means the lease was lost). */
export interface WorkOutcome<Row, Context, Result> {
  item: WorkItem<Row, Context>;
  result: Result;
  settled: Settled;
  /** The verdict was `later`: the attempt was given back, not counted. */
  later: boolean;
  /** When it is tried again (retry), else the time it was written. */
  nextAttemptAt: Date;
  values: Record<string, unknown>;
  history?: Record<string, unknown>;
  applied: boolean;
}

/** Data-modifying CTEs written in an outcome batch's settle statement (see {@link WorkProcessor.settleWith}). */
export interface SettleWith {
  ctes: string;
  params: unknown[];
}

/** The domain part of a queue: small, and knows nothing of claims or leases. */
export interface WorkProcessor<Row, Context, Result> {
  /** Loads what the attempts need, in the claim's transaction (e.g. each subscription's target). */
  prepare(em: EntityManager, items: WorkItem<Row, Context>[]): Promise<void>;
  /**
   * The attempt itself. Must not reject: report a failure as a result. `signal` is aborted when the
   * lease is lost (another holder took it over) or given back at shutdown: stop then (the outcome is not written).
   */
  perform(item: WorkItem<Row, Context>, signal: AbortSignal): Promise<Result>;
  /**
   * How the attempt ended, the values of `outcomeColumns` to write with it (or a function of how it
   * is settled and when it is due again, for values that say so), and its history row (if the table has one).
   */
  judge(
    item: WorkItem<Row, Context>,
    result: Result,
  ): { verdict: Verdict; values: Record<string, unknown> | ((settled: Settled, nextAttemptAt: Date) => Record<string, unknown>); history?: Record<string, unknown> };
  /**
   * Optional, PostgreSQL only: domain writes folded into the statement that settles the outcomes
   * (one statement for the whole batch), as data-modifying CTEs: `name AS (...)`, comma-separated,
   * joining the CTE `settled` (the ids of the rows whose outcome was applied). Placeholders are
   * numbered from `first` (`$first`, ...) and their values returned in that order. `applied` is not
   * known yet (false). `record` still runs after it, for the rest.
   */
  settleWith?(outcomes: ReadonlyArray<WorkOutcome<Row, Context, Result>>, now: Date, first: number): SettleWith | null;
  /**
   * Optional, PostgreSQL only: true when the settle statement (with `settleWith`'s CTEs) is all this
   * batch writes (`record` will write nothing): the batch is then that one statement, autocommitted,
   * without a transaction around it (three statements fewer); `record` still runs, on the pool.
   */
  settlesAlone?(batch: ReadonlyArray<{ item: WorkItem<Row, Context>; result: Result }>): boolean;
  /** The domain's writes for the outcomes applied (and a look at those not), in the outcomes' transaction. */
  record(em: EntityManager, outcomes: WorkOutcome<Row, Context, Result>[], now: Date): Promise<void>;
  /** Optional: the attempts that count toward `maxAttempts` and the backoff (default: `attempts`; less after a replay, say). */
  tries?(item: WorkItem<Row, Context>): number;
  /** After the commit: counters, log lines. Returns keys whose items claimed ahead are to be given back (e.g. disabled). */
  committed?(outcomes: WorkOutcome<Row, Context, Result>[]): Iterable<string> | void;
}

/** How the runner runs one queue. */
export interface WorkRunnerOptions {
  /** Attempts in flight at once in this process. */
  concurrency: number;
  /** Attempts in flight at once for one key. */
  perKeyLimit: number;
  maxAttempts: number;
  backoff: { baseMs: number; maxMs: number };
  /** Idle poll (ms): finds other replicas' work and expired leases. */
  pollMs: number;
  /** How long a lease lasts unless renewed; renewed every third of it while held. */
  leaseMs: number;
  /** On shutdown, how long attempts in flight may take before their leases are given back. */
  shutdownGraceMs: number;
  /**
   * `prepare` writes (fenced by the claim), so it runs in the claim's transaction on PostgreSQL too
   * (on SQLite it always does); otherwise PostgreSQL claims in one statement and `prepare` reads from the pool.
   */
  prepareWrites?: boolean;
  /**
   * Optional: rows this runner put back for a retry are claimed, once due, before other due rows
   * (oldest-first tables only), so that a pass over a backlog does not end on a tail of retries.
   */
  retriesFirst?: boolean;
  /**
   * Optional: a slot is freed only once its attempt's outcome is written, so that a crash repeats at
   * most `concurrency` attempts (default: attempts go on while outcomes are written behind, up to
   * twice the slots unrecorded).
   */
  slotUntilRecorded?: boolean;
  /** Optional: called as a claim begins (what was committed before is covered by it). */
  onClaim?: () => void;
  /** Optional: how long (ms) a row claimed ahead may wait for a slot before it is given back (default 1 s). */
  readyMaxWaitMs?: number;
  /** Optional: the fewest free slots worth a claim (default a quarter of `concurrency`; none free for a ready row claims too). */
  claimAtLeast?: number;
  /**
   * Optional: called after a claim with how late (ms) the least late row it leased started being
   * due, or 0 when nothing was due (not called when a key at its limit may have hidden due rows).
   * The least late row, so that one key's backlog claimed together with other keys' fresh rows does
   * not count; claimed alone it does (docs/architecture.md, "Backpressure", says what follows).
   */
  onLateness?: (latenessMs: number) => void;
}

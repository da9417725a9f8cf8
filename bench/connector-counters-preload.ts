/**
 * Counters for the connector bench, loaded into the CLI child with `node -r` (BENCH_COUNTERS=1).
 * Written as JSON to BENCH_COUNTERS_FILE when the process exits:
 * - every SQL statement TypeORM runs (SQLite through better-sqlite3, PostgreSQL through pg) with
 *   its count and time: on SQLite the synchronous better-sqlite3 call, i.e. event-loop time; on
 *   PostgreSQL the round trip;
 * - every TransactionRunner.run: the time it waited in the SQLite queue and the time it ran;
 * - on PostgreSQL, the time query runners waited for a pooled connection, and with
 *   BENCH_EXPLAIN_CLAIMS=1 the plans of the 1st and 1000th claim statements;
 * - the stages of a push slot in ConnectorRunner: `claim` (call to claimed items, queue included),
 *   `deliver` (claimed to outcome recorded: the slot is busy for exactly this long), within it the
 *   client's push (AcronisClient.pushAlert/pushWorkload: JSON, token, HTTP) and `record` (outcome
 *   queued to durably written);
 * - the event loop's delay (perf_hooks.monitorEventLoopDelay).
 *
 * Patches prototypes at load time only; src/ is not changed. Private methods are wrapped by name:
 * if they are renamed, their counters stay at zero.
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { BetterSqlite3QueryRunner } from 'typeorm/driver/better-sqlite3/BetterSqlite3QueryRunner';
import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner';
import { AcronisClient } from '../src/connector/acronis-client.service';
import { ConnectorRunner } from '../src/connector/connector-runner.service';
import { TransactionRunner } from '../src/database/transaction-runner.service';

export interface StatementStats {
  sql: string;
  count: number;
  totalMs: number;
  maxMs: number;
  rows: number;
}

export interface Timer {
  count: number;
  totalMs: number;
  maxMs: number;
}

export interface Counters {
  statements: StatementStats[];
  transactions: { count: number; queuedMs: number; heldMs: number; maxQueuedMs: number };
  stages: Record<'claim' | 'deliver' | 'push' | 'record', Timer>;
  /** PostgreSQL: waiting for a pooled connection (included in the statement times). */
  poolAcquire: Timer;
  /** Mean claim time (ms) in each tenth of the claims, in order: growth means claims slow down as the pass goes on. */
  claimTenths: number[];
  /** claim size (items returned) → claims. */
  claimSizes: Record<string, number>;
  /** PostgreSQL: EXPLAIN of the first claim statement, and of the 1000th (BENCH_EXPLAIN_CLAIMS=1). */
  claimPlans: string[][];
  /** How late the event loop ran a 10 ms timer, ms. */
  eventLoopDelayMs: { mean: number; p99: number; max: number };
}

const statements = new Map<string, StatementStats>();
const transactions = { count: 0, queuedMs: 0, heldMs: 0, maxQueuedMs: 0 };
const timer = (): Timer => ({ count: 0, totalMs: 0, maxMs: 0 });
const stages: Counters['stages'] = { claim: timer(), deliver: timer(), push: timer(), record: timer() };
const poolAcquire = timer();
const claimSizes: Record<string, number> = {};
const claimTimes: number[] = [];
const LOOP_RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loopDelay.enable();

function add(t: Timer, ms: number): void {
  t.count += 1;
  t.totalMs += ms;
  t.maxMs = Math.max(t.maxMs, ms);
}

/** One key per statement shape: parameter lists collapsed, white space squeezed. */
function shape(sql: string): string {
  return sql
    .replace(/\s+/g, ' ')
    .replace(/\((\s*(\?|\$\d+)\s*,)+\s*(\?|\$\d+)\s*\)/g, '(…)')
    .trim();
}

function rowsOf(result: unknown): number {
  if (Array.isArray(result)) return result.length;
  const records = (result as { records?: unknown } | null)?.records;
  return Array.isArray(records) ? records.length : 0;
}

function record(query: string, ms: number, rows: number): void {
  const key = shape(query);
  const entry = statements.get(key) ?? { sql: key, count: 0, totalMs: 0, maxMs: 0, rows: 0 };
  entry.count += 1;
  entry.totalMs += ms;
  entry.maxMs = Math.max(entry.maxMs, ms);
  entry.rows += rows;
  statements.set(key, entry);
}

type Query = (query: string, parameters?: unknown[], structured?: boolean) => Promise<unknown>;

const claimPlans: string[][] = [];
let claimStatements = 0;

function instrumentQueries(prototype: { query: Query }, explainClaims = false): void {
  const original = prototype.query;
  prototype.query = async function (this: unknown, query: string, parameters?: unknown[], structured?: boolean): Promise<unknown> {
    if (explainClaims && query.trimStart().startsWith('WITH picked')) {
      claimStatements += 1;
      if (claimStatements === 1 || claimStatements === 1000) {
        // The plan PostgreSQL chooses right now for this very statement (EXPLAIN alone does not run it).
        const plan = (await original.call(this, `EXPLAIN ${query}`, parameters)) as Array<Record<string, string>>;
        claimPlans.push([`claim statement ${claimStatements}:`, ...plan.map((row) => Object.values(row)[0])]);
      }
    }
    const started = performance.now();
    try {
      const result = await original.call(this, query, parameters, structured);
      record(query, performance.now() - started, rowsOf(result));
      return result;
    } catch (error) {
      record(query, performance.now() - started, 0);
      throw error;
    }
  };
}

instrumentQueries(BetterSqlite3QueryRunner.prototype);
instrumentQueries(PostgresQueryRunner.prototype, process.env.BENCH_EXPLAIN_CLAIMS === '1');

// A query runner without a connection takes one from the pg pool, waiting while all are in use.
const originalConnect = PostgresQueryRunner.prototype.connect;
PostgresQueryRunner.prototype.connect = function (this: PostgresQueryRunner): ReturnType<PostgresQueryRunner['connect']> {
  if (this.databaseConnection || (this.databaseConnectionPromise as Promise<unknown> | undefined) !== undefined) return originalConnect.call(this);
  const started = performance.now();
  return originalConnect.call(this).finally(() => add(poolAcquire, performance.now() - started));
};

// The queue wait is the time from the call until the work starts; the rest is the transaction.
const originalRun = TransactionRunner.prototype.run;
TransactionRunner.prototype.run = function <T>(this: TransactionRunner, work: Parameters<TransactionRunner['run']>[0]): Promise<T> {
  const called = performance.now();
  transactions.count += 1;
  return originalRun.call(this, async (em) => {
    const began = performance.now();
    const queued = began - called;
    transactions.queuedMs += queued;
    transactions.maxQueuedMs = Math.max(transactions.maxQueuedMs, queued);
    try {
      return await work(em);
    } finally {
      transactions.heldMs += performance.now() - began;
    }
  }) as Promise<T>;
};

type AsyncMethod = (...args: unknown[]) => Promise<unknown>;

/** Times an async method of a prototype into `into`; `after` sees its result and duration. */
function timeMethod(prototype: object, name: string, into: Timer, after?: (result: unknown, ms: number) => void): void {
  const target = prototype as Record<string, AsyncMethod | undefined>;
  const original = target[name];
  if (typeof original !== 'function') return;
  target[name] = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
    const started = performance.now();
    try {
      const result = await original.apply(this, args);
      after?.(result, performance.now() - started);
      return result;
    } finally {
      add(into, performance.now() - started);
    }
  };
}

timeMethod(ConnectorRunner.prototype, 'claim', stages.claim, (items, ms) => {
  const size = Array.isArray(items) ? String(items.length) : '?';
  claimSizes[size] = (claimSizes[size] ?? 0) + 1;
  claimTimes.push(ms);
});

function tenths(values: number[]): number[] {
  if (values.length < 10) return [];
  return Array.from({ length: 10 }, (_, i) => {
    const part = values.slice(Math.floor((i * values.length) / 10), Math.floor(((i + 1) * values.length) / 10));
    return part.reduce((sum, v) => sum + v, 0) / part.length;
  });
}
timeMethod(ConnectorRunner.prototype, 'deliver', stages.deliver);
timeMethod(ConnectorRunner.prototype, 'record', stages.record);
timeMethod(AcronisClient.prototype, 'pushAlert', stages.push);
timeMethod(AcronisClient.prototype, 'pushWorkload', stages.push);

process.on('exit', () => {
  const file = process.env.BENCH_COUNTERS_FILE;
  if (!file) return;
  loopDelay.disable();
  const counters: Counters = {
    statements: [...statements.values()].sort((a, b) => b.totalMs - a.totalMs),
    transactions,
    stages,
    poolAcquire,
    claimSizes,
    claimTenths: tenths(claimTimes),
    claimPlans,
    // The histogram holds the timer's whole interval; the lateness is what exceeds the resolution.
    eventLoopDelayMs: {
      mean: Math.max(0, loopDelay.mean / 1e6 - LOOP_RESOLUTION_MS),
      p99: Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
      max: Math.max(0, loopDelay.max / 1e6 - LOOP_RESOLUTION_MS),
    },
  };
  writeFileSync(file, JSON.stringify(counters));
});

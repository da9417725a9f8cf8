/**
 * Counts the PostgreSQL statements a gateway runs, for the statements-per-delivery figure of
 * bench/webhooks.bench.ts (issue 18):
 *
 *   BENCH_DB=postgres BENCH_SCENARIOS=b BENCH_GATEWAY_PRELOAD=bench/statement-count-preload.ts \
 *     BENCH_STATEMENTS_FILE=/tmp/statements-%p.json npm run bench:webhooks
 *
 * Patches pg's `Client.prototype.query` (TypeORM's pool and every query runner go through it) and
 * counts each statement under its first words (`BEGIN`, `SET LOCAL synchronous_commit`, `WITH
 * settled AS`, `INSERT INTO audit_records`, ...), with the rows it returned or changed. Written as
 * JSON to BENCH_STATEMENTS_FILE (`%p`: the process id; default `statements-%p.json` in the working
 * directory) every 250 ms and when the process exits. Divide `total` by the deliveries of the run (scenario b:
 * BENCH_EVENTS + BENCH_WARMUP_EVENTS) for statements per delivery. src/ is not changed.
 */
import { writeFileSync } from 'node:fs';
import { Client, type QueryResult } from 'pg';

/** How many leading words name a statement: enough to tell the dispatcher's from the worker's. */
const KEY_WORDS = 4;

interface Count {
  count: number;
  rows: number;
}

const counts = new Map<string, Count>();

/** The statement's first words, white space squeezed, placeholders and literals kept out. */
function keyOf(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .split(' ')
    .slice(0, KEY_WORDS)
    .join(' ')
    .replace(/\(.*$/, '');
}

function textOf(args: unknown[]): string | null {
  const first = args[0];
  if (typeof first === 'string') return first;
  if (first !== null && typeof first === 'object' && typeof (first as { text?: unknown }).text === 'string') return (first as { text: string }).text;
  return null;
}

function count(text: string, result: unknown): void {
  const key = keyOf(text);
  const entry = counts.get(key) ?? { count: 0, rows: 0 };
  entry.count += 1;
  const rows = (result as Partial<QueryResult> | undefined)?.rowCount;
  if (typeof rows === 'number') entry.rows += rows;
  counts.set(key, entry);
}

type Query = (...args: unknown[]) => unknown;
const original = Client.prototype.query as unknown as Query;
(Client.prototype as unknown as { query: Query }).query = function (this: Client, ...args: unknown[]): unknown {
  const text = textOf(args);
  const returned = original.apply(this, args);
  // Counted when it completes: the promise form (TypeORM's), else (a callback or a Submittable) counted at once.
  if (text === null) return returned;
  if (returned instanceof Promise) {
    return returned.then(
      (result: unknown) => {
        count(text, result);
        return result;
      },
      (error: unknown) => {
        count(text, undefined);
        throw error;
      },
    );
  }
  count(text, undefined);
  return returned;
};

function dump(): void {
  const file = (process.env.BENCH_STATEMENTS_FILE ?? 'statements-%p.json').replace(/%p/g, String(process.pid));
  const statements = [...counts].map(([statement, c]) => ({ statement, ...c })).sort((a, b) => b.count - a.count);
  const total = statements.reduce((sum, s) => sum + s.count, 0);
  writeFileSync(file, JSON.stringify({ pid: process.pid, total, statements }, null, 2));
}

// Also every 250 ms: the bench stops the gateway with SIGTERM, and Nest's shutdown hook ends the
// process by the signal again, without an 'exit' event (a SIGTERM listener here would keep it alive).
setInterval(dump, 250).unref();
process.on('exit', dump);

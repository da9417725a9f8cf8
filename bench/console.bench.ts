/**
 * The operator console with a large history (docs/console.md): how long each page takes to answer
 * with BENCH_CONSOLE_DELIVERIES (1,000,000) webhook deliveries stored, against a bare route of the
 * same gateway in the same run. The goal: every page at most 200 ms (the slowest of its timed
 * requests), on SQLite and on PostgreSQL.
 *
 *   npm run bench:console                       # SQLite, then PostgreSQL
 *   BENCH_DB=sqlite npm run bench:console       # one of them
 *
 * Per database: a fresh database (a file in a temp dir, or a fresh PostgreSQL schema dropped at the
 * end) with the migrations, a partner with two customers, a partner user, five subscriptions and
 * the history, written with INSERT … SELECT in the database itself (no round trip per row): the
 * deliveries spread over the last 30 days (94% succeeded, 5% failed, 1% pending due tomorrow),
 * one event and one attempt each, and a replay (succeeded) of one failed delivery in five; on
 * PostgreSQL then VACUUM ANALYZE, as autovacuum would (the test server here runs with it off). The
 * gateway runs as `src/main.ts` does (a child process, NODE_ENV=production, the webhook worker
 * off so that the history stays as written), signed in through the console's form like a
 * browser. Each page: BENCH_WARMUP (3) requests, then BENCH_REQUESTS (20) one after the other;
 * printed p50, p95 and max, against GET /health/live on the same connection (the baseline: the
 * framework, the session cookie's absence and the network, without the console's work).
 *
 * Settings (environment): BENCH_CONSOLE_DELIVERIES (1000000), BENCH_REQUESTS (20), BENCH_WARMUP
 * (3), BENCH_DB (sqlite|postgres; unset: both), BENCH_KEEP (1: keep the SQLite file or the PostgreSQL schema, to EXPLAIN), BENCH_DATABASE_URL
 * (postgres://postgres@127.0.0.1:5432/test), BENCH_GOAL_MS (200).
 */
import 'reflect-metadata';
import { consoleKit, f1, intEnv } from './console-kit';
import { hash, Algorithm } from '@node-rs/argon2';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { readDatabaseConfig } from '../src/config/database.config';
import { buildDataSourceOptions } from '../src/database/data-source-options';
import { toSqliteDate } from '../src/database/raw-dates';

const DAY_MS = 86_400_000;


const settings = {
  deliveries: intEnv('BENCH_CONSOLE_DELIVERIES', 1_000_000, 1000),
  requests: intEnv('BENCH_REQUESTS', 20, 1),
  warmup: intEnv('BENCH_WARMUP', 3),
  goalMs: intEnv('BENCH_GOAL_MS', 200, 1),
  databaseUrl: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  dbs: (process.env.BENCH_DB ? [process.env.BENCH_DB] : ['sqlite', 'postgres']) as Array<'sqlite' | 'postgres'>,
};
for (const db of settings.dbs) if (db !== 'sqlite' && db !== 'postgres') throw new Error(`BENCH_DB must be sqlite or postgres, not ${String(db)}`);

const workDir = mkdtempSync(join(tmpdir(), 'console-bench-'));
const cleanups: Array<() => Promise<void>> = [];
const LOGIN = 'bench.operator';
const PASSWORD = randomBytes(12).toString('base64url');
const { children, startGateway, signIn, timePage } = consoleKit({ workDir, warmup: settings.warmup, requests: settings.requests, login: LOGIN, password: PASSWORD });
const SUBSCRIPTIONS = 5;

// ---------------------------------------------------------------------------------------------
// The history

interface Seeded {
  env: Record<string, string>;
  /** The subscription with the most history, a delivery with an attempt, a failed one, one far back. */
  subscriptionId: string;
  deliveryId: string;
  failedDeliveryId: string;
  deepDeliveryId: string;
  /** The event of `deliveryId`. */
  eventId: string;
  rows: Record<string, number>;
  seedSeconds: number;
}

/** A uuid-shaped id for row `n` of a table (`tag`: one hex digit per table, so ids never collide). */
const jsId = (tag: string, n: number): string => `${n.toString(16).padStart(8, '0')}-0000-4000-${tag}000-${n.toString(16).padStart(12, '0')}`;

async function seed(db: 'sqlite' | 'postgres'): Promise<Seeded> {
  const started = Date.now();
  let env: Record<string, string>;
  if (db === 'postgres') {
    const schema = `bench_console_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    const admin = new Client({ connectionString: settings.databaseUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    cleanups.push(async () => {
      if (process.env.BENCH_KEEP === '1') return console.log(`kept schema ${schema} (BENCH_KEEP=1)`);
      const c = new Client({ connectionString: settings.databaseUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    });
    env = { DATABASE_URL: settings.databaseUrl, DATABASE_SCHEMA: schema };
  } else {
    env = { SQLITE_PATH: join(workDir, 'console.db') };
  }
  const ds = new DataSource(buildDataSourceOptions(readDatabaseConfig({ ...process.env, DATABASE_URL: '', DATABASE_SCHEMA: '', SQLITE_PATH: '', ...env })));
  await ds.initialize();
  try {
    await ds.runMigrations();
    const pg = db === 'postgres';
    const param = (n: number): string => (pg ? `$${n}` : '?');
    const at = (date: Date): Date | string => (pg ? date : toSqliteDate(date));
    const now = new Date();
    const partner = randomUUID();
    await ds.query(`INSERT INTO organizations (id, parent_id, name, kind) VALUES (${param(1)}, NULL, 'Bench Partner', 'partner')`, [partner]);
    for (const name of ['Bench Customer A', 'Bench Customer B']) {
      await ds.query(`INSERT INTO organizations (id, parent_id, name, kind) VALUES (${param(1)}, ${param(2)}, ${param(3)}, 'customer')`, [randomUUID(), partner, name]);
    }
    const password = await hash(PASSWORD, { algorithm: Algorithm.Argon2id });
    await ds.query(
      `INSERT INTO users (id, login, name, email, password, organization_id, created_at, updated_at) VALUES (${[1, 2, 3, 4, 5, 6, 7, 8].map(param).join(', ')})`,
      [randomUUID(), LOGIN, 'Bench Operator', 'operator@bench.example', password, partner, at(now), at(now)],
    );
    for (let s = 0; s < SUBSCRIPTIONS; s++) {
      await ds.query(
        `INSERT INTO webhook_subscriptions (id, organization_id, name, payload_url, secret, ssl_verification, enabled, scope, filters, created_at, updated_at)
         VALUES (${[1, 2, 3, 4, 5].map(param).join(', ')}, ${pg ? 'true' : '1'}, ${pg ? 'true' : '1'}, 'local', '[]', ${param(6)}, ${param(7)})`,
        [jsId('5', s), partner, `bench subscription ${s}`, `https://receiver${s}.bench.example/hook`, randomBytes(24).toString('base64'), at(now), at(now)],
      );
    }

    // Rows 0 … N-1, row n created at `start + n * step`: the newest is a few seconds old.
    const n = settings.deliveries;
    const stepMs = Math.floor((30 * DAY_MS) / n);
    const start = new Date(now.getTime() - n * stepMs);
    const tomorrow = new Date(now.getTime() + DAY_MS);
    // Expressions over the row number `i`, per database.
    const sql = pg
      ? {
          rows: `generate_series(0::bigint, ${n - 1}) AS g(i)`,
          id: (tag: string) => `lpad(to_hex(i), 8, '0') || '-0000-4000-${tag}000-' || lpad(to_hex(i), 12, '0')`,
          time: (base: string, plusMs: string) => `${base}::timestamptz + (${plusMs}) * interval '1 millisecond'`,
          state: `CASE WHEN i % 100 < 94 THEN 'succeeded' WHEN i % 100 < 99 THEN 'failed' ELSE 'pending' END`,
          bool: (expr: string) => `(${expr})`,
          with: '',
        }
      : {
          rows: `g`,
          id: (tag: string) => `printf('%08x-0000-4000-${tag}000-%012x', i, i)`,
          time: (base: string, plusMs: string) => `strftime('%Y-%m-%d %H:%M:%f', ${base}, printf('+%.3f seconds', (${plusMs}) / 1000.0))`,
          state: `CASE WHEN i % 100 < 94 THEN 'succeeded' WHEN i % 100 < 99 THEN 'failed' ELSE 'pending' END`,
          bool: (expr: string) => `CASE WHEN ${expr} THEN 1 ELSE 0 END`,
          with: `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < ${n - 1}) `,
        };
    const base = pg ? `'${start.toISOString()}'` : `'${toSqliteDate(start)}'`;
    const created = sql.time(base, `i * ${stepMs}`);
    const tomorrowSql = pg ? `'${tomorrow.toISOString()}'::timestamptz` : `'${toSqliteDate(tomorrow)}'`;
    const subscription = pg ? `lpad(to_hex(i % ${SUBSCRIPTIONS}), 8, '0') || '-0000-4000-5000-' || lpad(to_hex(i % ${SUBSCRIPTIONS}), 12, '0')` : `printf('%08x-0000-4000-5000-%012x', i % ${SUBSCRIPTIONS}, i % ${SUBSCRIPTIONS})`;
    const payload = pg
      ? `'{"event":"user.updated","id":"' || ${sql.id('e')} || '","data":{"login":"bench.user","name":"Bench User","email":"bench.user@bench.example","organization_id":"${partner}"}}'`
      : `'{"event":"user.updated","id":"' || ${sql.id('e')} || '","data":{"login":"bench.user","name":"Bench User","email":"bench.user@bench.example","organization_id":"${partner}"}}'`;
    await ds.transaction(async (em) => {
      await em.query(
        `${sql.with}INSERT INTO events (id, type, organization_id, data, created_at, dispatched_at)
         SELECT ${sql.id('e')}, 'user.updated', '${partner}', '{"login":"bench.user"}', ${created}, ${created} FROM ${sql.rows}`,
      );
      await em.query(
        `${sql.with}INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, organization_id, payload, state, attempts, next_attempt_at, locked_until, last_status, last_error, redelivery_of, created_at, updated_at, completed_at)
         SELECT ${sql.id('d')}, ${subscription}, ${sql.id('e')}, 'user.updated', '${partner}', ${payload}, ${sql.state},
                CASE WHEN i % 100 < 94 THEN 1 WHEN i % 100 < 99 THEN 8 ELSE 0 END,
                CASE WHEN i % 100 = 99 THEN ${tomorrowSql} ELSE ${created} END, NULL,
                CASE WHEN i % 100 < 94 THEN 200 WHEN i % 100 < 99 THEN 500 ELSE NULL END,
                CASE WHEN i % 100 >= 94 AND i % 100 < 99 THEN 'HTTP 500' ELSE NULL END, NULL,
                ${created}, ${created}, CASE WHEN i % 100 < 99 THEN ${created} ELSE NULL END
         FROM ${sql.rows}`,
      );
      await em.query(
        `${sql.with}INSERT INTO webhook_delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, status_code, response_body, error_class, error, success, request_url, request_headers)
         SELECT ${sql.id('a')}, ${sql.id('d')}, 1, ${created}, 5 + i % 40, CASE WHEN i % 100 < 94 THEN 200 ELSE 500 END,
                CASE WHEN i % 100 < 94 THEN 'ok' ELSE 'receiver error' END, CASE WHEN i % 100 < 94 THEN NULL ELSE 'http' END,
                CASE WHEN i % 100 < 94 THEN NULL ELSE 'HTTP 500' END, ${sql.bool('i % 100 < 94')}, NULL, NULL
         FROM ${sql.rows} WHERE i % 100 < 99`,
      );
      // One failed delivery in five was replayed (and the replay succeeded), an hour later.
      await em.query(
        `${sql.with}INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, organization_id, payload, state, attempts, next_attempt_at, locked_until, last_status, last_error, redelivery_of, created_at, updated_at, completed_at)
         SELECT ${sql.id('b')}, ${subscription}, ${sql.id('e')}, 'user.updated', '${partner}', ${payload}, 'succeeded', 1, ${created}, NULL, 200, NULL, ${sql.id('d')},
                ${sql.time(base, `i * ${stepMs} + 3600000`)}, ${sql.time(base, `i * ${stepMs} + 3600000`)}, ${sql.time(base, `i * ${stepMs} + 3600000`)}
         FROM ${sql.rows} WHERE i % 100 = 94 AND i < ${n - 10_000}`,
      );
    });
    // What autovacuum does after a bulk insert (the test server here runs with it off): statistics, and
    // the visibility map that lets index-only scans skip the table.
    if (pg) for (const table of ['events', 'webhook_deliveries', 'webhook_delivery_attempts']) await ds.query(`VACUUM ANALYZE ${table}`);
    const rows: Record<string, number> = {};
    for (const table of ['events', 'webhook_deliveries', 'webhook_delivery_attempts']) {
      const [{ count }] = await ds.query<Array<{ count: string | number }>>(`SELECT COUNT(*) AS count FROM ${table}`);
      rows[table] = Number(count);
    }
    // The busiest subscription is 0; a recent delivery, a recent failed one, and one in the middle of the history.
    const last = n - 1 - ((n - 1) % SUBSCRIPTIONS);
    return {
      env,
      subscriptionId: jsId('5', 0),
      deliveryId: jsId('d', last - 5 * 20),
      eventId: jsId('e', last - 5 * 20),
      failedDeliveryId: jsId('d', Math.floor((n - 200) / 100) * 100 + 95),
      deepDeliveryId: jsId('d', Math.floor(n / 2 / SUBSCRIPTIONS) * SUBSCRIPTIONS),
      rows,
      seedSeconds: (Date.now() - started) / 1000,
    };
  } finally {
    await ds.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The gateway and its pages


async function runDatabase(db: 'sqlite' | 'postgres'): Promise<boolean> {
  console.log(`\n=== ${db === 'sqlite' ? 'SQLite (WAL, a fresh file)' : `PostgreSQL ${settings.databaseUrl.replace(/:[^:@/]*@/, ':***@')} (a fresh schema)`} ===`);
  const seeded = await seed(db);
  console.log(`seeded in ${seeded.seedSeconds.toFixed(1)} s: ${Object.entries(seeded.rows).map(([t, c]) => `${t} ${c.toLocaleString('en-US')}`).join(', ')}`);
  const { child, port } = await startGateway(seeded.env, join(workDir, `gateway-${db}.log`));
  try {
    const cookie = await signIn(port);
    const since = new Date(Date.now() - 7 * DAY_MS).toISOString();
    const pages: Array<{ name: string; path: string; expect: RegExp | null }> = [
      { name: 'overview', path: '/console', expect: /Latest failures/i },
      { name: 'webhooks (subscriptions)', path: '/console/webhooks', expect: /bench subscription 0/ },
      { name: 'subscription, newest deliveries', path: `/console/webhooks/${seeded.subscriptionId}`, expect: /Older deliveries/ },
      { name: 'subscription, a page 100,000 back', path: `/console/webhooks/${seeded.subscriptionId}?before=${seeded.deepDeliveryId}`, expect: /Older deliveries/ },
      { name: 'subscription, failed only', path: `/console/webhooks/${seeded.subscriptionId}?state=failed`, expect: /Older deliveries/ },
      { name: 'subscription, failed not replayed', path: `/console/webhooks/${seeded.subscriptionId}?state=dead-letters`, expect: /Older deliveries/ },
      { name: 'delivery (with its attempts)', path: `/console/deliveries/${seeded.deliveryId}`, expect: /Attempt/ },
      { name: 'failed delivery', path: `/console/deliveries/${seeded.failedDeliveryId}`, expect: /HTTP 500/ },
      { name: 'dead letters', path: '/console/dead-letters', expect: /Older/ },
      { name: 'dead letters, a page back', path: `/console/dead-letters?before=${seeded.failedDeliveryId}`, expect: /Older/ },
      { name: 'replay failed since 7 days (count)', path: `/console/webhooks/${seeded.subscriptionId}/replay-failed?since=${encodeURIComponent(since)}`, expect: null },
      { name: 'approval hooks', path: '/console/hooks', expect: null },
      { name: 'hook decisions', path: '/console/hook-decisions', expect: null },
      { name: 'connector items', path: '/console/connector', expect: null },
      { name: 'connector runs', path: '/console/connector/runs', expect: null },
      { name: 'activity (audit trail)', path: '/console/activity', expect: null },
      { name: 'event timeline', path: `/console/events/${seeded.eventId}`, expect: /Attempt|attempt/ },
      { name: 'S3 sources', path: '/console/s3-sources', expect: null },
      { name: 'actions', path: '/console/actions', expect: null },
      { name: 'action handlers', path: '/console/action-handlers', expect: null },
    ];
    const baseline = await timePage(port, cookie, '/health/live', null);
    console.log(`\n${'page'.padEnd(40)}${'p50 ms'.padStart(8)}${'p95 ms'.padStart(8)}${'max ms'.padStart(8)}  goal: max <= ${settings.goalMs} ms`);
    console.log(`${'baseline: GET /health/live'.padEnd(40)}${f1(baseline.p50)} ${f1(baseline.p95)} ${f1(baseline.max)}`);
    let ok = true;
    for (const page of pages) {
      const f = await timePage(port, cookie, page.path, page.expect);
      const met = f.max <= settings.goalMs;
      ok &&= met;
      console.log(`${page.name.padEnd(40)}${f1(f.p50)} ${f1(f.p95)} ${f1(f.max)}  ${met ? 'ok' : 'SLOWER THAN THE GOAL'}`);
    }
    return ok;
  } finally {
    child.kill('SIGTERM');
    await new Promise((done) => (child.exitCode !== null ? done(null) : child.once('exit', done)));
  }
}

async function main(): Promise<void> {
  console.log(`console bench: ${settings.deliveries.toLocaleString('en-US')} deliveries, ${settings.requests} timed requests a page after ${settings.warmup} warm-up; load average at start ${loadavg()[0].toFixed(2)}`);
  let ok = true;
  for (const db of settings.dbs) ok = (await runDatabase(db)) && ok;
  console.log(`\n${ok ? 'every page met the goal' : 'some pages were slower than the goal'} (max <= ${settings.goalMs} ms)`);
  process.exitCode = ok ? 0 : 1;
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    if (process.env.BENCH_KEEP === '1') console.log(`kept ${workDir} (BENCH_KEEP=1)`);
    else rmSync(workDir, { recursive: true, force: true });
  });

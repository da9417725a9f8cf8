/**
 * The console's S3 and action pages with a large inbox and ledger (docs/console.md): how long each
 * page takes with BENCH_CONSOLE_ROWS (200,000) inbox records in one source and as many actions in
 * the ledger, against a bare route of the same gateway in the same run. The pages page by key and
 * count nothing: their time should not grow with the table.
 *
 *   npm run bench:console-s3-actions                     # SQLite, then PostgreSQL
 *   BENCH_DB=postgres npm run bench:console-s3-actions   # one of them
 *
 * Per database: a fresh database (a temp file, or a fresh PostgreSQL schema dropped at the end)
 * with the migrations; a partner with a user, one S3 source with the records (99% done, 1%
 * failed, over the last 30 days, written with INSERT … SELECT in the database), a handler and the
 * actions (98% completed, 2% expired; two capabilities). The gateway runs as `src/main.ts` does (a
 * child process, NODE_ENV=production, workers off), signed in through the console's form. Each
 * page: BENCH_WARMUP (3) requests, then BENCH_REQUESTS (20); p50, p95 and max printed.
 *
 * Settings: BENCH_CONSOLE_ROWS (200000), BENCH_REQUESTS (20), BENCH_WARMUP (3), BENCH_DB
 * (sqlite|postgres; unset: both), BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test),
 * BENCH_GOAL_MS (200).
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
  rows: intEnv('BENCH_CONSOLE_ROWS', 200_000, 1000),
  requests: intEnv('BENCH_REQUESTS', 20, 1),
  warmup: intEnv('BENCH_WARMUP', 3),
  goalMs: intEnv('BENCH_GOAL_MS', 200, 1),
  databaseUrl: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  dbs: (process.env.BENCH_DB ? [process.env.BENCH_DB] : ['sqlite', 'postgres']) as Array<'sqlite' | 'postgres'>,
};
for (const db of settings.dbs) if (db !== 'sqlite' && db !== 'postgres') throw new Error(`BENCH_DB must be sqlite or postgres, not ${String(db)}`);

const workDir = mkdtempSync(join(tmpdir(), 'console-s3-actions-bench-'));
const cleanups: Array<() => Promise<void>> = [];
const LOGIN = 'bench.operator';
const PASSWORD = randomBytes(12).toString('base64url');
const { children, startGateway, signIn, timePage } = consoleKit({ workDir, warmup: settings.warmup, requests: settings.requests, login: LOGIN, password: PASSWORD, gatewayEnv: { S3_EVENTS_WORKER_ENABLED: 'false' } });
const SOURCE_ID = '00000000-0000-4000-9000-000000000001';
const HANDLER_ID = '00000000-0000-4000-9000-000000000002';

interface Seeded {
  env: Record<string, string>;
  /** A record in the middle of the inbox, a failed one, an action in the middle of the ledger. */
  deepRecordId: string;
  failedRecordId: string;
  deepActionId: string;
  counts: Record<string, number>;
  seedSeconds: number;
}

async function seed(db: 'sqlite' | 'postgres'): Promise<Seeded> {
  const started = Date.now();
  let env: Record<string, string>;
  if (db === 'postgres') {
    const schema = `bench_console_s3_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    const admin = new Client({ connectionString: settings.databaseUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    cleanups.push(async () => {
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
    const password = await hash(PASSWORD, { algorithm: Algorithm.Argon2id });
    await ds.query(
      `INSERT INTO users (id, login, name, email, password, organization_id, created_at, updated_at) VALUES (${[1, 2, 3, 4, 5, 6, 7, 8].map(param).join(', ')})`,
      [randomUUID(), LOGIN, 'Bench Operator', 'operator@bench.example', password, partner, at(now), at(now)],
    );
    await ds.query(
      `INSERT INTO s3_event_sources (id, organization_id, name, public_url, token_hash, allowed_buckets, actions, enabled, created_at, updated_at)
       VALUES (${[1, 2].map(param).join(', ')}, 'bench source', 'https://gw.bench.example/s3-events/{token}', ${param(3)}, '["bench"]', '[]', ${pg ? 'true' : '1'}, ${param(4)}, ${param(5)})`,
      [SOURCE_ID, partner, randomBytes(32).toString('hex'), at(now), at(now)],
    );
    await ds.query(
      `INSERT INTO action_handlers (id, organization_id, name, token_hash, created_by, created_at) VALUES (${param(1)}, ${param(2)}, 'bench handler', ${param(3)}, NULL, ${param(4)})`,
      [HANDLER_ID, partner, randomBytes(32).toString('hex'), at(now)],
    );

    const n = settings.rows;
    const stepMs = Math.floor((30 * DAY_MS) / n);
    const start = new Date(now.getTime() - n * stepMs);
    const sql = pg
      ? {
          rows: `generate_series(0, ${n - 1}) AS g(i)`,
          id: (tag: string) => `lpad(to_hex(i), 8, '0') || '-0000-4000-${tag}000-' || lpad(to_hex(i), 12, '0')`,
          time: (plusMs: string) => `'${start.toISOString()}'::timestamptz + (${plusMs}) * interval '1 millisecond'`,
          hex32: `lpad(to_hex(i), 32, '0')`,
          bool: (expr: string) => `(${expr})`,
          with: '',
        }
      : {
          rows: `g`,
          id: (tag: string) => `printf('%08x-0000-4000-${tag}000-%012x', i, i)`,
          time: (plusMs: string) => `strftime('%Y-%m-%d %H:%M:%f', '${toSqliteDate(start)}', printf('+%.3f seconds', (${plusMs}) / 1000.0))`,
          hex32: `printf('%032x', i)`,
          bool: (expr: string) => `CASE WHEN ${expr} THEN 1 ELSE 0 END`,
          with: `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < ${n - 1}) `,
        };
    const created = sql.time(`${pg ? 'i::bigint' : 'i'} * ${stepMs}`);
    await ds.transaction(async (em) => {
      await em.query(
        `${sql.with}INSERT INTO s3_inbox (id, source_id, organization_id, bucket, object_key, event_name, etag, sequencer, seq_sort, size, dedupe_key, record, state,
                               attempts, attempt_base, emitted, forced, actions_done, next_attempt_at, locked_until, last_error, created_at, updated_at, completed_at)
         SELECT ${sql.id('1')}, '${SOURCE_ID}', '${partner}', 'bench', 'objects/' || ${sql.id('1')} || '.bin', 's3:ObjectCreated:Put', NULL, ${sql.hex32}, ${sql.hex32}, '1024',
                ${sql.hex32} || ${sql.hex32}, '{}', CASE WHEN i % 100 = 42 THEN 'failed' ELSE 'done' END, 1, 0, ${sql.bool('1 = 1')}, ${sql.bool('1 = 0')}, '[]',
                ${created}, NULL, CASE WHEN i % 100 = 42 THEN 'actions[0] command: exit code 3' ELSE NULL END, ${created}, ${created}, ${created}
         FROM ${sql.rows}`,
      );
      await em.query(
        `${sql.with}INSERT INTO actions (id, organization_id, handler_id, capability, parameters, timeout_ms, state, send_count, result, result_code, submitted_by, submitted_at, sent_at, acked_at, completed_at, expires_at)
         SELECT ${sql.id('2')}, '${partner}', '${HANDLER_ID}', CASE WHEN i % 10 = 0 THEN 'Reboot' ELSE 'ExecuteCommand' END, '{"Command":"uptime"}', 60000,
                CASE WHEN i % 50 = 7 THEN 'expired' ELSE 'completed' END, 1,
                CASE WHEN i % 50 = 7 THEN NULL ELSE '{"code":200,"message":"ok"}' END, CASE WHEN i % 50 = 7 THEN NULL ELSE 200 END,
                'bench', ${created}, ${created}, ${created}, ${created}, ${sql.time(`${pg ? 'i::bigint' : 'i'} * ${stepMs} + 60000`)}
         FROM ${sql.rows}`,
      );
    });
    if (pg) await ds.query('ANALYZE');
    const counts: Record<string, number> = {};
    for (const table of ['s3_inbox', 'actions']) {
      const [{ count }] = await ds.query<Array<{ count: string | number }>>(`SELECT COUNT(*) AS count FROM ${table}`);
      counts[table] = Number(count);
    }
    const idOf = (tag: string, i: number) => `${i.toString(16).padStart(8, '0')}-0000-4000-${tag}000-${i.toString(16).padStart(12, '0')}`;
    return {
      env,
      deepRecordId: idOf('1', Math.floor(n / 2)),
      failedRecordId: idOf('1', Math.floor((n - 200) / 100) * 100 + 42),
      deepActionId: idOf('2', Math.floor(n / 2)),
      counts,
      seedSeconds: (Date.now() - started) / 1000,
    };
  } finally {
    await ds.destroy();
  }
}


async function runDatabase(db: 'sqlite' | 'postgres'): Promise<boolean> {
  console.log(`\n=== ${db === 'sqlite' ? 'SQLite (WAL, a fresh file)' : `PostgreSQL ${settings.databaseUrl.replace(/:[^:@/]*@/, ':***@')} (a fresh schema)`} ===`);
  const seeded = await seed(db);
  console.log(`seeded in ${seeded.seedSeconds.toFixed(1)} s: ${Object.entries(seeded.counts).map(([t, c]) => `${t} ${c.toLocaleString('en-US')}`).join(', ')}`);
  const { child, port } = await startGateway(seeded.env, join(workDir, `gateway-${db}.log`));
  try {
    const cookie = await signIn(port);
    const pages: Array<{ name: string; path: string; expect: RegExp | null }> = [
      { name: 'S3 sources', path: '/console/s3-sources', expect: /bench source/ },
      { name: 'source, newest records', path: `/console/s3-sources/${SOURCE_ID}`, expect: /Older records/ },
      { name: 'source, a page 100,000 back', path: `/console/s3-sources/${SOURCE_ID}?before=${seeded.deepRecordId}`, expect: /Older records/ },
      { name: 'source, failed only', path: `/console/s3-sources/${SOURCE_ID}?state=failed`, expect: /Older records/ },
      { name: 'source, failed, 100,000 back', path: `/console/s3-sources/${SOURCE_ID}?state=failed&before=${seeded.deepRecordId}`, expect: /Older records/ },
      { name: 'inbox record (failed)', path: `/console/s3-records/${seeded.failedRecordId}`, expect: /exit code 3/ },
      { name: 'actions, newest', path: '/console/actions', expect: /Older actions/ },
      { name: 'actions, a page 100,000 back', path: `/console/actions?before=${seeded.deepActionId}`, expect: /Older actions/ },
      { name: 'actions, expired only', path: '/console/actions?state=expired', expect: /Older actions/ },
      { name: 'actions, capability Reboot', path: '/console/actions?capability=Reboot', expect: /Older actions/ },
      { name: 'action handlers', path: '/console/action-handlers', expect: /bench handler/ },
      { name: 'action', path: `/console/actions/${seeded.deepActionId}`, expect: /Result/ },
    ];
    const baseline = await timePage(port, cookie, '/health/live', null);
    console.log(`\n${'page'.padEnd(36)}${'p50 ms'.padStart(8)}${'p95 ms'.padStart(8)}${'max ms'.padStart(8)}  goal: max <= ${settings.goalMs} ms`);
    console.log(`${'baseline: GET /health/live'.padEnd(36)}${f1(baseline.p50)} ${f1(baseline.p95)} ${f1(baseline.max)}`);
    let ok = true;
    for (const page of pages) {
      const f = await timePage(port, cookie, page.path, page.expect);
      const met = f.max <= settings.goalMs;
      ok &&= met;
      console.log(`${page.name.padEnd(36)}${f1(f.p50)} ${f1(f.p95)} ${f1(f.max)}  ${met ? 'ok' : 'SLOWER THAN THE GOAL'}`);
    }
    return ok;
  } finally {
    child.kill('SIGTERM');
    await new Promise((done) => (child.exitCode !== null ? done(null) : child.once('exit', done)));
  }
}

async function main(): Promise<void> {
  console.log(`console S3/actions bench: ${settings.rows.toLocaleString('en-US')} inbox records and actions, ${settings.requests} timed requests a page after ${settings.warmup} warm-up; load average at start ${loadavg()[0].toFixed(2)}`);
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
    rmSync(workDir, { recursive: true, force: true });
  });

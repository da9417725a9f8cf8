/**
 * S3 event intake (issue 8): records accepted per second and the acknowledgement latency while a
 * slow command action runs behind, against a same-run baseline.
 *
 *   npm run bench:s3-events                      # SQLite (a fresh file in a temp dir)
 *   BENCH_DB=postgres npm run bench:s3-events    # PostgreSQL (a fresh schema, dropped at the end)
 *
 * Scenarios (autocannon in this process, BENCH_CONNECTIONS keep-alive connections, BENCH_SECONDS each):
 *   a) baseline: a bare Fastify route (a child process: no Nest, no database) that parses the same
 *      JSON body and answers 200 `{"stored":1,"duplicates":0}`. Run before and after the gateway
 *      scenarios; ratios are against the better run (the machine is shared).
 *   b) the gateway (src/main.ts in a child process, as production runs it), one record per POST,
 *      every record new (key and sequencer from a counter), to a source whose command action
 *      sleeps BENCH_ACTION_MS per record (S3_EVENTS_CONCURRENCY 4): the backlog grows behind
 *      the intake, which must keep acknowledging.
 *   c) the same with BENCH_BATCH records per POST.
 *   d) (b) against a gateway whose inbox worker is off: the intake alone, to show what the work
 *      behind it costs the intake.
 * After each gateway scenario the stored records are counted (every acknowledged record must be
 * in the inbox) and the actions completed during the run are reported.
 *
 * Settings: BENCH_SECONDS (10), BENCH_CONNECTIONS (16), BENCH_BATCH (10), BENCH_ACTION_MS (200),
 * BENCH_DB (sqlite|postgres), BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test).
 */
import 'reflect-metadata';
import autocannon from 'autocannon';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { readDatabaseConfig } from '../src/config/database.config';
import { buildDataSourceOptions } from '../src/database/data-source-options';
import { Organization, OrganizationKind } from '../src/organizations/organization.entity';
import { S3EventSource } from '../src/s3-events/s3-event-source.entity';
import { generateToken, hashToken } from '../src/s3-events/s3-source-token';
import { s3Record } from '../test/factories/s3-events';

const ROOT = resolve(__dirname, '..');
const role = process.argv[2] as 'bare' | undefined;

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

const settings = {
  seconds: intEnv('BENCH_SECONDS', 10),
  connections: intEnv('BENCH_CONNECTIONS', 16),
  batch: intEnv('BENCH_BATCH', 10),
  actionMs: intEnv('BENCH_ACTION_MS', 200),
  db: process.env.BENCH_DB === 'postgres' ? ('postgres' as const) : ('sqlite' as const),
  databaseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
};

// ---------------------------------------------------------------------------------------------
// Role `bare`: the baseline server

async function bare(): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  app.post('/s3-events/:token', (req) => {
    const body = req.body as { Records?: unknown[] } | null;
    return { stored: body?.Records?.length ?? 0, duplicates: 0 };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.send?.({ port: (app.server.address() as AddressInfo).port });
  process.on('disconnect', () => void app.close().finally(() => process.exit(0)));
}

// ---------------------------------------------------------------------------------------------
// The bench

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => done(port));
    });
  });
}

function get(port: number, path: string): Promise<number> {
  return new Promise((done) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('error', () => done(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function startBare(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bench/s3-events.bench.ts', 'bare'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((done, fail) => {
    child.once('message', (m: { port: number }) => done(m.port));
    child.once('exit', (code) => fail(new Error(`bare server exited ${code}`)));
  });
  return { port, child };
}

async function startGateway(env: Record<string, string>): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 120_000;
  while ((await get(port, '/health/live')) !== 200) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('the gateway did not start');
    await new Promise((r) => setTimeout(r, 250));
  }
  return { port, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await exited;
}

interface Result {
  name: string;
  requestsPerSec: number;
  recordsPerSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  records: number;
}

async function load(name: string, port: number, path: string, perRequest: number): Promise<Result> {
  let counter = 0;
  // Keys of one scenario never repeat another's: every record is new, none is a duplicate.
  const prefix = randomBytes(4).toString('hex');
  const body = (): string => {
    const records = Array.from({ length: perRequest }, () => {
      const n = ++counter;
      return s3Record({ key: `bench/${prefix}/${String(n).padStart(9, '0')}.bin`, sequencer: n, size: 1024 });
    });
    return JSON.stringify({ Records: records });
  };
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: settings.connections,
    duration: settings.seconds,
    requests: [{ method: 'POST', path, headers: { 'content-type': 'application/json', 'x-amz-sns-message-type': 'Notification' }, setupRequest: (req) => ({ ...req, body: body() }) }],
  });
  const ok = result['2xx'];
  return {
    name,
    requestsPerSec: ok / settings.seconds,
    recordsPerSec: (ok * perRequest) / settings.seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    records: ok * perRequest,
  };
}

async function main(): Promise<void> {
  let dropDatabase: () => Promise<void>;
  let dbEnv: Record<string, string>;
  if (settings.db === 'postgres') {
    const schema = `bench_s3_${randomBytes(4).toString('hex')}`;
    const admin = new Client({ connectionString: settings.databaseUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    dbEnv = { DATABASE_URL: settings.databaseUrl, DATABASE_SCHEMA: schema };
    dropDatabase = async () => {
      const c = new Client({ connectionString: settings.databaseUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    };
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'bench-s3-'));
    dbEnv = { SQLITE_PATH: join(dir, 'gateway.db') };
    dropDatabase = () => Promise.resolve(rmSync(dir, { recursive: true, force: true }));
  }

  const ds = await new DataSource(buildDataSourceOptions(readDatabaseConfig(dbEnv))).initialize();
  const children: ChildProcess[] = [];
  try {
    await ds.runMigrations();
    const organizationId = randomUUID();
    await ds.manager.insert(Organization, { id: organizationId, parentId: null, name: 'Bench', kind: OrganizationKind.Partner });
    const token = generateToken();
    const sourceId = randomUUID();
    const now = new Date();
    await ds.manager.insert(S3EventSource, {
      id: sourceId,
      organizationId,
      createdBy: null,
      name: 'bench',
      publicUrl: null,
      tokenHash: hashToken(token),
      allowedBuckets: ['bucketA'],
      actions: [{ type: 'command', command: ['/bin/sh', '-c', `sleep ${settings.actionMs / 1000}`, 'sh'] }],
      enabled: true,
      createdAt: now,
      updatedAt: now,
    } as unknown as S3EventSource);
    const path = `/s3-events/${token}`;
    const counts = async () => {
      const rows: Array<{ state: string; n: number | string }> = await ds.query(`SELECT state, COUNT(*) AS n FROM s3_inbox GROUP BY state`);
      return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)])) as Record<string, number>;
    };

    console.log(`s3-events bench on ${settings.db}: ${settings.seconds} s per scenario, ${settings.connections} connections, action sleeps ${settings.actionMs} ms (concurrency 4)`);
    const results: Result[] = [];
    const baselines: Result[] = [];
    const runBare = async (label: string) => {
      const b = await startBare();
      children.push(b.child);
      baselines.push(await load(`a) bare Fastify, 1 record/POST (${label})`, b.port, path, 1));
      await stop(b.child);
    };
    await runBare('before');

    const gatewayEnv = (workerEnabled: boolean) => ({
      ...dbEnv,
      NODE_ENV: 'production',
      LOG_LEVEL: 'error',
      CALLBACK_JWT: 'off',
      S3_EVENTS_ALLOWED_COMMANDS: '/bin/sh',
      S3_EVENTS_CONCURRENCY: '4',
      S3_EVENTS_WORKER_ENABLED: String(workerEnabled),
      WEBHOOKS_WORKER_ENABLED: 'false',
    });
    const measureGateway = async (gateway: { port: number }, name: string, per: number) => {
      const before = await counts();
      const r = await load(name, gateway.port, path, per);
      const after = await counts();
      const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
      const stored = total(after) - total(before);
      const acted = (after.done ?? 0) - (before.done ?? 0);
      results.push(r);
      // Requests in flight when the run's clock stops are stored but not counted as answered.
      const check = stored < r.records ? ' (MISSING RECORDS)' : stored > r.records ? ` (+${stored - r.records} answered after the clock stopped)` : '';
      console.log(
        `   ${name}: ${r.records} records acknowledged, ${stored} stored in the inbox${check}, ` +
          `${acted} acted on during the run, ${(after.pending ?? 0) + (after.processing ?? 0)} waiting behind`,
      );
    };
    const gateway = await startGateway(gatewayEnv(true));
    children.push(gateway.child);
    await measureGateway(gateway, 'b) gateway, 1 record/POST, slow actions behind', 1);
    await measureGateway(gateway, `c) gateway, ${settings.batch} records/POST, slow actions behind`, settings.batch);
    await stop(gateway.child);
    // The same intake with nothing behind it: what the worker's transactions cost the intake (SQLite has one writer).
    const idle = await startGateway(gatewayEnv(false));
    children.push(idle.child);
    await measureGateway(idle, 'd) gateway, 1 record/POST, worker off', 1);
    await stop(idle.child);
    await runBare('after');

    const best = baselines.reduce((a, b) => (b.recordsPerSec > a.recordsPerSec ? b : a));
    console.log('\n| scenario | req/s | records/s | ack p50 ms | ack p99 ms | non-2xx | errors | vs baseline records/s |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of [...baselines, ...results]) {
      console.log(
        `| ${r.name} | ${r.requestsPerSec.toFixed(0)} | ${r.recordsPerSec.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} | ${(r.recordsPerSec / best.recordsPerSec).toFixed(2)} |`,
      );
    }
  } finally {
    for (const c of children) await stop(c);
    await ds.destroy();
    await dropDatabase();
  }
}

if (role === 'bare') {
  bare().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

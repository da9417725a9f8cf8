/**
 * What an approval pre-hook adds to a callback (issue 7): `user_write` through `POST /callback`
 * (a real write: a new user each request), sequential requests on one keep-alive connection,
 * p50/p90/p99 with
 *   none:  no hook enabled (the same-run baseline);
 *   pre:   one pre-hook (phase `pre`) on a local server that answers `{"approved":true}` at once;
 *   both:  the same hook with phase `both`: the pre-hook call plus the post-hook delivery row written
 *          in the operation's transaction (and sent by the worker meanwhile), run last.
 * `none` and `pre` alternate in BENCH_ROUNDS blocks (the machine is shared: interleaving spreads
 * its noise over both), the hook switched with PATCH `enabled` between blocks.
 *
 *   npm run bench:hooks                      # SQLite (a fresh file in a temp dir)
 *   BENCH_DB=postgres npm run bench:hooks    # PostgreSQL (a fresh schema, dropped at the end)
 *
 * The gateway runs in a child process (bench/gateway-child.ts: src/main.ts as production runs
 * it); the hook server and the client run in this process, one request at a time, so they never
 * compete with each other. Settings: BENCH_REQUESTS (2000 per scenario), BENCH_ROUNDS (4), BENCH_WARMUP (200),
 * BENCH_DB (sqlite|postgres), BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test),
 * BENCH_LOG_LEVEL (warn).
 */
import 'reflect-metadata';
import { hash } from '@node-rs/argon2';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { readDatabaseConfig } from '../src/config/database.config';
import { buildDataSourceOptions } from '../src/database/data-source-options';
import { Organization, OrganizationKind } from '../src/organizations/organization.entity';
import { OrganizationMapping } from '../src/tenant-mapping/organization-mapping.entity';
import { User } from '../src/users/user.entity';
import { APP_CODE, cyberAppAuth, envelope } from '../test/setup/protocol';

const ROOT = resolve(__dirname, '..');
const LOGIN = 'bench.partner';
const PASSWORD = randomBytes(12).toString('hex');

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

const settings = {
  requests: intEnv('BENCH_REQUESTS', 2000),
  rounds: intEnv('BENCH_ROUNDS', 4),
  warmup: intEnv('BENCH_WARMUP', 200),
  db: process.env.BENCH_DB === 'postgres' ? 'postgres' : 'sqlite',
  databaseUrl: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  logLevel: process.env.BENCH_LOG_LEVEL ?? 'warn',
};
const workDir = mkdtempSync(join(tmpdir(), 'hooks-bench-'));
let gateway: ChildProcess | null = null;
let dropDatabase: (() => Promise<void>) | null = null;

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createNetServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => done(port));
    });
  });
}

async function cleanup(): Promise<void> {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise<void>((done) => gateway?.once('exit', () => done()));
    gateway.kill('SIGTERM');
    const timer = setTimeout(() => gateway?.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  const drop = dropDatabase;
  dropDatabase = null;
  await drop?.().catch((error: unknown) => console.error(`could not drop the bench database: ${String(error)}`));
  rmSync(workDir, { recursive: true, force: true });
}
process.on('exit', () => gateway?.exitCode === null && gateway.kill('SIGKILL'));

async function createDatabase(): Promise<Record<string, string>> {
  if (settings.db !== 'postgres') return { SQLITE_PATH: join(workDir, 'gateway.db') };
  const schema = `bench_hooks_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: settings.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  dropDatabase = async () => {
    const c = new Client({ connectionString: settings.databaseUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  };
  return { DATABASE_URL: settings.databaseUrl, DATABASE_SCHEMA: schema };
}

/** Migrations, a partner with a user and a mapped customer; returns the customer's Acronis tenant. */
async function seed(dbEnv: Record<string, string>): Promise<string> {
  const ds = new DataSource(buildDataSourceOptions(readDatabaseConfig({ ...process.env, DATABASE_URL: '', ...dbEnv })));
  await ds.initialize();
  try {
    await ds.runMigrations();
    const partner = ds.manager.create(Organization, { id: randomUUID(), name: 'Bench Partner', kind: OrganizationKind.Partner, parentId: null });
    const customer = ds.manager.create(Organization, { id: randomUUID(), name: 'Bench Customer', kind: OrganizationKind.Customer, parentId: partner.id });
    await ds.manager.insert(Organization, [partner, customer]);
    await ds.manager.insert(User, {
      id: randomUUID(),
      login: LOGIN,
      name: 'Bench Partner',
      email: 'bench@example.com',
      password: await hash(PASSWORD, { memoryCost: 4096, timeCost: 1, parallelism: 1 }),
      organizationId: partner.id,
    });
    const tenantId = randomUUID();
    await ds.manager.insert(OrganizationMapping, { organizationId: customer.id, acronisTenantId: tenantId, acronisDcUrl: null });
    return tenantId;
  } finally {
    await ds.destroy();
  }
}

async function startGateway(dbEnv: Record<string, string>): Promise<string> {
  const port = await freePort();
  const logFile = join(workDir, 'gateway.log');
  const out = openSync(logFile, 'a');
  gateway = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bench/gateway-child.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: '',
      DATABASE_SCHEMA: '',
      SQLITE_PATH: '',
      ...dbEnv,
      NODE_ENV: 'production',
      CALLBACK_JWT: 'off',
      HOST: '127.0.0.1',
      PORT: String(port),
      APP_CODE,
      LOG_LEVEL: settings.logLevel,
      LOG_PRETTY: 'false',
      WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8',
      WEBHOOKS_RETENTION_INTERVAL_MINUTES: '0',
    },
    stdio: ['ignore', out, out, 'ipc'],
  });
  closeSync(out);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (gateway.exitCode !== null) throw new Error(`gateway exited during start-up:\n${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
    if (Date.now() > deadline) throw new Error('gateway not ready after 120 s');
    if (await fetch(`${url}/health/ready`).then((r) => r.ok).catch(() => false)) return url;
    await sleep(250);
  }
}

/** The local hook: `{"approved":true}` to pre-hooks, `{}` to post-hooks, at once. */
async function startHook(): Promise<{ url: string; calls: { pre: number; post: number }; close(): Promise<void> }> {
  const calls = { pre: 0, post: 0 };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const pre = String(req.headers['x-cs-event'] ?? '').startsWith('pre.');
      calls[pre ? 'pre' : 'post'] += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(pre ? '{"approved":true}' : '{}');
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    calls,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function call(url: string, method: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const data = body === undefined ? '' : JSON.stringify(body);
  return new Promise((done, fail) => {
    const req = request(
      `${url}${path}`,
      {
        method,
        agent,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }),
          'x-cyberapp-auth': cyberAppAuth(LOGIN, PASSWORD),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => done({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', fail);
    req.end(data);
  });
}

interface Result {
  name: string;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  perSecond: number;
}

let sequence = 0;

/** One user_write; its latency in ms. */
async function send(url: string, tenantId: string): Promise<number> {
  const login = `bench-${++sequence}`;
  const started = performance.now();
  const res = await call(url, 'POST', '/callback', envelope('user_write', { login, name: login, email: `${login}@bench.example` }, { tenantId }));
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`user_write answered ${res.status}: ${res.text}`);
  return ms;
}

/** `count` sequential requests, appended to `times`; returns the wall time in ms. */
async function block(url: string, tenantId: string, count: number, times: number[]): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) times.push(await send(url, tenantId));
  return performance.now() - started;
}

function summarize(name: string, times: number[], elapsedMs: number): Result {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { name, p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, perSecond: (sorted.length * 1000) / elapsedMs };
}

async function main(): Promise<void> {
  const dbEnv = await createDatabase();
  const tenantId = await seed(dbEnv);
  const url = await startGateway(dbEnv);
  const hook = await startHook();
  console.log(
    `hooks bench: ${settings.db}, ${settings.requests} sequential user_write callbacks per scenario after ${settings.warmup} warm-up; ` +
      `${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  const created = await call(url, 'POST', '/api/hooks', { url: hook.url, ssl_verification: false, operations: ['user.create'], phase: 'pre', enabled: false });
  if (created.status !== 201) throw new Error(`hook registration answered ${created.status}: ${created.text}`);
  const hookId = (JSON.parse(created.text) as { id: string }).id;
  const enable = async (enabled: boolean) => void (await call(url, 'PATCH', `/api/hooks/${hookId}`, { enabled }));
  for (let i = 0; i < settings.warmup; i++) await send(url, tenantId);
  await enable(true);
  for (let i = 0; i < settings.warmup; i++) await send(url, tenantId);

  const none: number[] = [];
  const pre: number[] = [];
  let noneMs = 0;
  let preMs = 0;
  const perBlock = Math.ceil(settings.requests / settings.rounds);
  for (let round = 0; round < settings.rounds; round++) {
    await enable(false);
    noneMs += await block(url, tenantId, perBlock, none);
    await enable(true);
    preMs += await block(url, tenantId, perBlock, pre);
  }
  const preCalls = hook.calls.pre;
  await call(url, 'PATCH', `/api/hooks/${hookId}`, { phase: 'both' });
  const both: number[] = [];
  const bothMs = await block(url, tenantId, settings.requests, both);
  await sleep(1000);

  const baseline = summarize('none', none, noneMs);
  const results = [baseline, summarize('pre-hook', pre, preMs), summarize('pre + post-hook', both, bothMs)];
  const rows = [['scenario', 'p50 ms', 'p90 ms', 'p99 ms', 'mean ms', 'req/s', 'Δp50 ms', 'Δp99 ms']];
  for (const r of results) {
    const delta = (a: number, b: number) => (r === baseline ? '' : (a - b >= 0 ? '+' : '') + (a - b).toFixed(2));
    rows.push([r.name, r.p50.toFixed(2), r.p90.toFixed(2), r.p99.toFixed(2), r.mean.toFixed(2), r.perSecond.toFixed(0), delta(r.p50, baseline.p50), delta(r.p99, baseline.p99)]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  console.log(
    `the hook answered ${preCalls} pre-hooks before the post-hook scenario (${settings.warmup + perBlock * settings.rounds} expected), ` +
      `${hook.calls.pre} pre-hooks and ${hook.calls.post} post-hooks in all`,
  );
  // The hook call alone, as the gateway timed it (hook_decisions.latency_ms, whole ms): the rest of Δ is the endpoint lookup and the decision row.
  const recent = await call(url, 'GET', '/api/hooks/decisions?limit=500', undefined);
  const latencies = (JSON.parse(recent.text) as { items: Array<{ latency_ms: number }> }).items.map((d) => d.latency_ms).sort((a, b) => a - b);
  if (latencies.length > 0) {
    const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
    console.log(`pre-hook call as recorded (last ${latencies.length} decisions): p50 ${q(0.5)} ms, p99 ${q(0.99)} ms`);
  }
  await hook.close();
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => void cleanup());

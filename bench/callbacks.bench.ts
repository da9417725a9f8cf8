/**
 * Callback throughput of the gateway against two same-run baselines on a bare Fastify server:
 * a) `GET /` with a tiny JSON answer (the baseline the issue's goal is stated against), and
 * a2) `POST /callback` doing the same I/O as users_read (the same request parsed as JSON, an
 *     answer of the same size built from a constant list), which isolates what the gateway adds.
 *
 *   npm run bench                      # SQLite (a fresh file in a temp dir)
 *   BENCH_DB=postgres npm run bench    # PostgreSQL (a fresh schema, dropped at the end)
 *
 * The load generator (autocannon) runs in this process; the baseline server and each gateway
 * run in their own child process, so each figure is one server's throughput on what is left of
 * the machine. Settings (environment):
 *   BENCH_CONNECTIONS (50), BENCH_DURATION s (10), BENCH_WARMUP s (2),
 *   BENCH_UNCACHED_CONNECTIONS (8: every request of scenario d pays argon2),
 *   BENCH_LOG_LEVEL (warn), BENCH_DB (sqlite|postgres),
 *   BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test),
 *   BENCH_WRITE_CUSTOMERS (4: customers that tenant_mapping.write alternates between; with at
 *   least as many customers as connections, each connection keeps one customer of its own, so
 *   that no two writes in flight touch the same customer),
 *   BENCH_SCENARIOS (e.g. "c,e": a subset; the baselines a and a2 always run),
 *   BENCH_CPU_PROFILE=<dir> (a V8 CPU profile of the gateway during each of its scenarios,
 *   summarized at the end; profiling costs throughput),
 *   BENCH_GATEWAY_PRELOAD (comma-separated modules the gateway loads first, `node -r`: for
 *   experiments such as another driver or a rewritten query, without touching src/).
 */
import 'reflect-metadata';
import autocannon from 'autocannon';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { readDatabaseConfig } from '../src/config/database.config';
import { buildDataSourceOptions } from '../src/database/data-source-options';
import { Organization, OrganizationKind } from '../src/organizations/organization.entity';
import { User } from '../src/users/user.entity';
import { APP_CODE, envelope, responseType } from '../test/setup/protocol';
import { callbackHeaders, CallbackCaller, seedCallbackCaller } from './callback-caller';
import { benchUsers, USERS_IN_MAPPED_ORG } from './bench-users';
import { CpuProfile, summarizeProfile } from './cpu-profile-summary';

const ROOT = resolve(__dirname, '..');
/** The baselines: every gateway figure is compared with both, so they always run. */
const BASELINE_KEYS = ['a', 'a2'];
const GOAL_RATIO = 0.4;
/** USER_HZ: /proc/<pid>/stat counts CPU time in these (100 on every common Linux build). */
const CLOCK_TICKS = 100;

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

const settings = {
  connections: intEnv('BENCH_CONNECTIONS', 50),
  uncachedConnections: intEnv('BENCH_UNCACHED_CONNECTIONS', 8),
  duration: intEnv('BENCH_DURATION', 10),
  warmup: intEnv('BENCH_WARMUP', 2),
  writeCustomers: intEnv('BENCH_WRITE_CUSTOMERS', 4),
  logLevel: process.env.BENCH_LOG_LEVEL || 'warn',
  db: process.env.BENCH_DB === 'postgres' ? ('postgres' as const) : ('sqlite' as const),
  databaseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  only: process.env.BENCH_SCENARIOS ? new Set([...BASELINE_KEYS, ...process.env.BENCH_SCENARIOS.split(',').map((s) => s.trim()).filter(Boolean)]) : null,
  profileDir: process.env.BENCH_CPU_PROFILE ? resolve(process.env.BENCH_CPU_PROFILE) : null,
  preload: (process.env.BENCH_GATEWAY_PRELOAD ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((s) => resolve(s)),
};

// ---------------------------------------------------------------------------------------------
// Child processes

interface Server {
  name: string;
  child: ChildProcess;
  url: string;
  logFile: string;
}

const loadAtStart = loadavg()[0];
const children = new Set<ChildProcess>();
const workDir = mkdtempSync(join(tmpdir(), 'gateway-bench-'));

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/**
 * A TypeScript entry point in a child process with an IPC channel. Its output goes to a file,
 * not through this process, so that logging costs the server and not the load generator.
 */
function spawnTs(name: string, script: string, env: NodeJS.ProcessEnv, preload: string[] = []): { child: ChildProcess; logFile: string } {
  const logFile = join(workDir, `${name}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', ...preload.flatMap((m) => ['-r', m]), script], {
    cwd: ROOT,
    env,
    stdio: ['ignore', out, out, 'ipc'],
  });
  closeSync(out);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return { child, logFile };
}

function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return '(no output)';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

async function stop(child: ChildProcess): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c)));
}

/** Dropped by `cleanup`: the PostgreSQL schema or nothing (the SQLite file lives in workDir). */
let dropDatabase: (() => Promise<void>) | null = null;

/** Stops every server, drops the database, removes the temp dir; safe to call more than once. */
async function cleanup(): Promise<void> {
  await stopAll();
  const drop = dropDatabase;
  dropDatabase = null;
  await drop?.().catch((error: unknown) => console.error(`could not drop the bench database: ${String(error)}`));
  rmSync(workDir, { recursive: true, force: true });
}

// Last resort (an exception escaping everything): no server outlives the bench.
process.on('exit', () => children.forEach((c) => alive(c) && c.kill('SIGKILL')));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the servers`);
    void cleanup().finally(() => process.exit(130));
  });
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = address !== null && typeof address === 'object' ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

async function startBareServer(): Promise<Server> {
  const { child, logFile } = spawnTs('bare', 'bench/bare-server.ts', process.env);
  const port = await new Promise<number>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`bare server did not report its port:\n${tail(logFile)}`)), 30_000);
    child.once('message', (message: { port?: number }) => {
      clearTimeout(timer);
      if (typeof message.port === 'number') done(message.port);
      else fail(new Error('bare server sent no port'));
    });
    child.once('exit', (code) => fail(new Error(`bare server exited (${code}):\n${tail(logFile)}`)));
  });
  return { name: 'bare Fastify', child, url: `http://127.0.0.1:${port}`, logFile };
}

/** Production-like: NODE_ENV=production, but without the platform JWT (no JWKS to reach). */
async function startGateway(name: string, dbEnv: Record<string, string>, extra: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
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
    ...extra,
  };
  const { child, logFile } = spawnTs(name, 'bench/gateway-child.ts', env, settings.preload);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (!alive(child)) throw new Error(`${name} exited during start-up:\n${tail(logFile)}`);
    if (Date.now() > deadline) throw new Error(`${name} not ready after 120 s:\n${tail(logFile)}`);
    try {
      const res = await fetch(`${url}/health/ready`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  return { name, child, url, logFile };
}

function command(server: Server, message: { cmd: string; file?: string }): Promise<void> {
  return new Promise((done, fail) => {
    server.child.once('message', (reply: { ok?: string; error?: string }) => (reply.error ? fail(new Error(reply.error)) : done()));
    server.child.send(message);
  });
}

/** Peak resident set size (VmHWM) of a child, in MiB. */
function peakRssMiB(child: ChildProcess): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system, every thread: event loop, libuv pool, GC) of a child so far, in ms. */
function cpuMs(child: ChildProcess): number {
  // Fields after the command name, which may contain spaces: state is field 3, utime 14, stime 15.
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** Resets VmHWM to the current RSS (Linux `clear_refs` 5), so that each scenario has its own peak. */
function resetPeakRss(child: ChildProcess): boolean {
  try {
    writeFileSync(`/proc/${child.pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Database

interface Database {
  env: Record<string, string>;
  description: string;
  drop(): Promise<void>;
}

async function createDatabase(): Promise<Database> {
  if (settings.db === 'postgres') {
    const schema = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    const admin = new Client({ connectionString: settings.databaseUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    return {
      env: { DATABASE_URL: settings.databaseUrl, DATABASE_SCHEMA: schema },
      description: `PostgreSQL ${settings.databaseUrl.replace(/:[^:@/]*@/, ':***@')}, schema ${schema}`,
      drop: async () => {
        const c = new Client({ connectionString: settings.databaseUrl });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      },
    };
  }
  const path = join(workDir, 'gateway.db');
  return { env: { SQLITE_PATH: path }, description: `SQLite ${path}`, drop: () => Promise.resolve() };
}

interface Fixture {
  caller: CallbackCaller;
  /** The Acronis tenant mapped to the customer with the 50 users. */
  tenantId: string;
  /** Customers that tenant_mapping.write maps, in turn, to fresh tenants. */
  writeCustomers: string[];
}

/** Migrations, then a partner with a user (production argon2 cost) and its customers (bench/callback-caller.ts). */
async function seed(db: Database): Promise<Fixture> {
  const ds = new DataSource(buildDataSourceOptions(readDatabaseConfig({ ...process.env, DATABASE_URL: '', ...db.env })));
  await ds.initialize();
  try {
    await ds.runMigrations();
    const caller = await seedCallbackCaller(ds);
    const writeCustomers = Array.from({ length: settings.writeCustomers }, (_, i) =>
      ds.manager.create(Organization, { id: randomUUID(), name: `Bench Write Customer ${i + 1} Inc.`, kind: OrganizationKind.Customer, parentId: caller.partnerId }),
    );
    await ds.manager.insert(Organization, writeCustomers);
    // The same names and emails as the constant list of the bare POST baseline (a2).
    await ds.manager.insert(
      User,
      benchUsers().map((u) => ds.manager.create(User, { id: u.id, login: u.name.toLowerCase(), name: u.name, email: u.email, password: null, organizationId: caller.customerId })),
    );
    return { caller, tenantId: caller.tenantId, writeCustomers: writeCustomers.map((c) => c.id) };
  } finally {
    await ds.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

type Target = 'bare' | 'gateway' | 'gateway-nocache';

interface Scenario {
  key: string;
  name: string;
  target: Target;
  connections: number;
  request: autocannon.Request;
  /** Checks one answer before the load: a 200 that does not do the work would flatter the figure. */
  check(status: number, body: string): string | null;
}

interface Measurement {
  scenario: Scenario;
  /** Body size of the answer to the probe, bytes: a2 and c must be alike for a2 to be "same I/O". */
  responseBytes: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
  statusCodes: string;
  peakRss: number | null;
  peakRssScoped: boolean;
  /** Server CPU per answered request, ms: unlike req/s, barely moved by other load on the machine. */
  cpuPerRequest: number;
  /** Server CPU time over wall time, %: 100 = one core busy. */
  cpuUse: number;
  /** The load generator's (this process's) CPU over wall time, %. */
  generatorCpuUse: number;
}

function scenarios(fixture: Fixture): Scenario[] {
  const auth = callbackHeaders(fixture.caller);
  const usersReadEnvelope = envelope('users_read', {}, { tenantId: fixture.tenantId });
  // One request for the gateway's users_read (c, d) and the same-I/O bare route (a2): same body, same headers.
  const usersRead: autocannon.Request = { method: 'POST', path: '/callback', headers: auth, body: JSON.stringify(usersReadEnvelope) };
  const usersReadSuccess = responseType(`${APP_CODE}.users_read_success.v1.0`);
  const checkUsers = (status: number, body: string) => {
    const answer = JSON.parse(body) as { type?: unknown; request_id?: unknown; response_id?: unknown; payload?: { items?: unknown[] } };
    const items = answer.payload?.items;
    const wellFormed =
      status === 200 &&
      answer.type === usersReadSuccess &&
      answer.request_id === usersReadEnvelope.request_id &&
      typeof answer.response_id === 'string' &&
      items?.length === USERS_IN_MAPPED_ORG &&
      items.every((u) => typeof u === 'object' && u !== null && ['id', 'name', 'email'].every((k) => typeof (u as Record<string, unknown>)[k] === 'string'));
    return wellFormed ? null : `expected 200, ${usersReadSuccess}, the request_id echoed and ${USERS_IN_MAPPED_ORG} users, got ${status} ${body.slice(0, 300)}`;
  };
  let turn = 0;
  const nextCustomer = () => fixture.writeCustomers[turn++ % fixture.writeCustomers.length];
  const perConnection = fixture.writeCustomers.length >= settings.connections;
  // autocannon gives every connection its own context object.
  const mappingWrite = (context: { customer?: string }) => {
    const customer = perConnection ? (context.customer ??= nextCustomer()) : nextCustomer();
    return JSON.stringify(envelope('tenant_mapping.write', { modified: [{ vendor_tenant_id: customer, acronis_tenant_id: randomUUID() }] }));
  };
  const ok2xx = (status: number, body: string) => (status >= 200 && status < 300 ? null : `got ${status} ${body.slice(0, 300)}`);
  return [
    { key: 'a', name: 'bare Fastify GET / (baseline)', target: 'bare', connections: settings.connections, request: { method: 'GET', path: '/' }, check: ok2xx },
    {
      key: 'a2',
      name: 'bare Fastify POST, users_read-sized answer',
      target: 'bare',
      connections: settings.connections,
      request: usersRead,
      check: checkUsers,
    },
    { key: 'b', name: 'gateway GET /', target: 'gateway', connections: settings.connections, request: { method: 'GET', path: '/' }, check: ok2xx },
    {
      key: 'c',
      name: 'users_read, credential cache on',
      target: 'gateway',
      connections: settings.connections,
      request: usersRead,
      check: checkUsers,
    },
    {
      key: 'd',
      name: 'users_read, cache off (argon2 each)',
      target: 'gateway-nocache',
      connections: settings.uncachedConnections,
      request: usersRead,
      check: checkUsers,
    },
    {
      key: 'e',
      name: 'tenant_mapping.write (new request_id)',
      target: 'gateway',
      connections: settings.connections,
      // A fresh request_id (and tenant) per request: idempotency must not answer from storage.
      request: { method: 'POST', path: '/callback', headers: auth, setupRequest: (req, context) => ({ ...req, body: mappingWrite(context) }) },
      check: ok2xx,
    },
  ];
}

/** One request, checked; returns the answer's body size in bytes. */
async function probe(server: Server, scenario: Scenario): Promise<number> {
  const { method, path, headers, body, setupRequest } = scenario.request;
  const request = setupRequest && typeof setupRequest === 'function' ? setupRequest(scenario.request, {}) : { body };
  const res = await fetch(`${server.url}${path ?? '/'}`, {
    method,
    headers: headers as Record<string, string> | undefined,
    body: request.body,
  });
  const text = await res.text();
  const problem = scenario.check(res.status, text);
  if (problem) throw new Error(`${scenario.key}) ${scenario.name}: ${problem}`);
  return Buffer.byteLength(text);
}

function load(server: Server, scenario: Scenario, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url: server.url, connections: scenario.connections, duration: seconds, requests: [scenario.request] });
}

async function measure(server: Server, scenario: Scenario, profileFile: string | null): Promise<Measurement> {
  process.stdout.write(`${scenario.key}) ${scenario.name}: ${scenario.connections} connections, ${settings.warmup} s warm-up, ${settings.duration} s ... `);
  const responseBytes = await probe(server, scenario);
  await load(server, scenario, settings.warmup);
  const logOffset = statSync(server.logFile).size;
  const scoped = resetPeakRss(server.child);
  if (profileFile) await command(server, { cmd: 'profile-start' });
  const cpuBefore = cpuMs(server.child);
  const generatorBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const result = await load(server, scenario, settings.duration);
  const wall = performance.now() - wallBefore;
  const generator = process.cpuUsage(generatorBefore);
  const cpu = cpuMs(server.child) - cpuBefore;
  if (profileFile) await command(server, { cmd: 'profile-stop', file: profileFile });
  const peakRss = peakRssMiB(server.child);
  const statusCodes = Object.entries(result.statusCodeStats ?? {})
    .map(([code, s]) => `${code}: ${s.count ?? 0}`)
    .join(', ');
  console.log(`${result.requests.average.toFixed(0)} req/s`);
  if (result.non2xx > 0 || result.errors > 0) {
    console.log(`   !! ${result.non2xx} non-2xx, ${result.errors} errors (${result.timeouts} timeouts); status codes ${statusCodes}`);
    const log = readFileSync(server.logFile, 'utf8').slice(logOffset).split('\n').filter(Boolean);
    for (const [message, count] of summarizeLog(log)) console.log(`   server log: ${count} x ${message}`);
  }
  return {
    scenario,
    responseBytes,
    reqPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    statusCodes,
    peakRss,
    peakRssScoped: scoped,
    cpuPerRequest: cpu / Math.max(1, result.requests.total),
    cpuUse: (100 * cpu) / wall,
    generatorCpuUse: (100 * (generator.user + generator.system)) / 1000 / wall,
  };
}

/** Distinct messages of pino JSON lines (the error's message where there is one), most frequent first. */
function summarizeLog(lines: string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const line of lines) {
    let message = line.slice(0, 200);
    try {
      const entry = JSON.parse(line) as { msg?: string; err?: { type?: string; message?: string } };
      message = entry.err ? `${entry.err.type ?? 'Error'}: ${entry.err.message ?? ''} (${entry.msg ?? ''})` : (entry.msg ?? message);
    } catch {
      // not JSON: keep the raw line
    }
    counts.set(message, (counts.get(message) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows: string[][], rightAligned: boolean[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (rightAligned[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Rounded down, so that a figure shown never reads as reaching a goal that it misses. */
function percent(ratio: number): string {
  const digits = ratio < 0.01 ? 2 : 1;
  return `${(Math.floor(100 * ratio * 10 ** digits) / 10 ** digits).toFixed(digits)}%`;
}

/** `r`'s req/s as a share of the baseline's; "-" on the baseline's own row. */
function ratioCell(r: Measurement, baseline: Measurement | undefined): string {
  if (!baseline) return 'n/a';
  if (r === baseline) return '-';
  return percent(r.reqPerSec / baseline.reqPerSec);
}

/** One goal line: cached users_read against one baseline, by req/s (the goal) and by CPU per request. */
function goalLine(cached: Measurement, baseline: Measurement | undefined, against: string): void {
  if (!baseline) {
    console.log(`goal: cached users_read >= ${GOAL_RATIO * 100}% of ${against}: n/a (not measured)`);
    return;
  }
  const ratio = cached.reqPerSec / baseline.reqPerSec;
  const verdict = ratio >= GOAL_RATIO ? 'MET' : 'NOT MET';
  const scope = settings.db === 'sqlite' ? '' : ' (the goal is stated for SQLite; shown for comparison)';
  console.log(`goal: cached users_read >= ${GOAL_RATIO * 100}% of ${against}: ${percent(ratio)} -> ${verdict}${scope}`);
  // Other load on the machine moves req/s between scenarios; CPU per request it barely moves.
  const byCpu = baseline.cpuPerRequest / cached.cpuPerRequest;
  console.log(`   by server CPU per request (what each server could do with the same core): ${percent(byCpu)}`);
}

function report(results: Measurement[], db: Database): void {
  const bareGet = results.find((r) => r.scenario.key === 'a');
  const barePost = results.find((r) => r.scenario.key === 'a2');
  const rows = [
    [
      'scenario',
      'conns',
      'req/s',
      'p50 ms',
      'p99 ms',
      'requests',
      'non-2xx',
      'errors',
      'body B',
      'peak RSS MiB',
      '% of bare GET',
      '% of bare POST (same I/O)',
      'srv CPU %',
      'CPU ms/req',
      'gen CPU %',
    ],
    ...results.map((r) => [
      `${r.scenario.key}) ${r.scenario.name}`,
      String(r.scenario.connections),
      r.reqPerSec.toFixed(0),
      r.p50.toFixed(0),
      r.p99.toFixed(0),
      String(r.total),
      String(r.non2xx),
      String(r.errors),
      String(r.responseBytes),
      r.peakRss === null ? 'n/a' : `${r.peakRss.toFixed(0)}${r.peakRssScoped ? '' : '*'}`,
      ratioCell(r, bareGet),
      ratioCell(r, barePost),
      r.cpuUse.toFixed(0),
      r.cpuPerRequest < 1 ? r.cpuPerRequest.toFixed(3) : r.cpuPerRequest.toFixed(1),
      r.generatorCpuUse.toFixed(0),
    ]),
  ];
  const [cpu] = cpus();
  console.log('');
  console.log(`node ${process.version}, ${cpus().length} CPUs (${cpu?.model ?? 'unknown'}), load generator and servers on the same machine`);
  console.log(`database: ${db.description}`);
  console.log(`load average (1 min) at start ${loadAtStart.toFixed(2)}, at end ${loadavg()[0].toFixed(2)}: figures taken on a busy machine are noisy`);
  console.log(
    `connections ${settings.connections} (scenario d: ${settings.uncachedConnections}, argon2id m=65536 t=3 p=4 per request), ` +
      `duration ${settings.duration} s after ${settings.warmup} s warm-up, gateway LOG_LEVEL=${settings.logLevel}, NODE_ENV=production, CALLBACK_JWT=off` +
      (settings.profileDir ? ', CPU profiler ON (figures are lower than unprofiled)' : '') +
      (settings.preload.length ? `, gateway preload ${settings.preload.join(' ')}` : ''),
  );
  console.log('');
  console.log(table(rows, [false, ...rows[0].slice(1).map(() => true)]));
  console.log('body B: answer body of the checked probe request; % of bare GET / POST: req/s against scenario a / a2 (a2: same request, same-size answer, no work)');
  console.log('srv CPU %: server CPU time / wall time (100 = one core); CPU ms/req: server CPU per answered request; gen CPU %: the load generator');
  if (results.some((r) => !r.peakRssScoped)) console.log('* VmHWM could not be reset: peak since the process started');
  else console.log('peak RSS: VmHWM of the serving process during the measured run (reset after warm-up)');

  const failed = results.filter((r) => r.non2xx > 0 || r.errors > 0);
  console.log(failed.length ? `NOT all 2xx: ${failed.map((r) => `${r.scenario.key}) ${r.statusCodes}, ${r.errors} errors`).join('; ')}` : 'every response 2xx, no errors');

  const cached = results.find((r) => r.scenario.key === 'c');
  if (cached) {
    goalLine(cached, bareGet, 'the bare GET route (a, the issue\'s stated goal)');
    goalLine(cached, barePost, 'the same-I/O bare POST route (a2, same threshold)');
  } else {
    console.log('goal: not evaluated (scenario c, cached users_read, was not run)');
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const db = await createDatabase();
  dropDatabase = db.drop;
  const servers = new Map<Target, Server>();
  try {
    const fixture = await seed(db);
    const all = scenarios(fixture);
    const unknown = [...(settings.only ?? [])].filter((key) => !all.some((s) => s.key === key));
    if (unknown.length) throw new Error(`BENCH_SCENARIOS: unknown scenario ${unknown.join(', ')} (known: ${all.map((s) => s.key).join(', ')})`);
    const wanted = all.filter((s) => !settings.only || settings.only.has(s.key));
    if (settings.profileDir) mkdirSync(settings.profileDir, { recursive: true });

    const serverFor = async (target: Target): Promise<Server> => {
      const existing = servers.get(target);
      if (existing) return existing;
      // One server at a time: an idle one still holds memory and runs timers.
      for (const [t, s] of servers) {
        await stop(s.child);
        servers.delete(t);
      }
      const server =
        target === 'bare'
          ? await startBareServer()
          : await startGateway(target, db.env, { AUTH_CACHE_ENABLED: target === 'gateway' ? 'true' : 'false' });
      servers.set(target, server);
      return server;
    };

    // The cache-off gateway runs last so that the cached one serves b, c and e in one process.
    const order = [...wanted].sort((x, y) => Number(x.target === 'gateway-nocache') - Number(y.target === 'gateway-nocache'));
    const results: Measurement[] = [];
    const profiles: Array<{ key: string; file: string }> = [];
    for (const scenario of order) {
      const server = await serverFor(scenario.target);
      const profileFile = settings.profileDir && scenario.target !== 'bare' ? join(settings.profileDir, `${scenario.key}-${settings.db}.cpuprofile`) : null;
      results.push(await measure(server, scenario, profileFile));
      if (profileFile) profiles.push({ key: scenario.key, file: profileFile });
    }
    results.sort((x, y) => x.scenario.key.localeCompare(y.scenario.key));
    report(results, db);
    for (const p of profiles) {
      console.log(`\nCPU profile of the gateway, scenario ${p.key} (${p.file}):`);
      console.log(summarizeProfile(JSON.parse(readFileSync(p.file, 'utf8')) as CpuProfile, 12).join('\n'));
    }
    console.log(`\nbench took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await cleanup();
  }
}

main().catch(async (error: unknown) => {
  console.error(`\nbench failed: ${error instanceof Error ? error.message : String(error)}`);
  await cleanup();
  process.exit(1);
});

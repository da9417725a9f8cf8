/**
 * Connector throughput (issue 4, "Benchmark"): 10,000 pending items across 100 mapped tenants,
 * pushed by one real `connector run` (the CLI, in a child process) through the fake Acronis API
 * with a fixed service time and a share of 429s with `Retry-After`; against the ideal wall time
 * for the configured concurrency and against a same-run baseline: a raw node:http client pushing
 * the same requests to the same fake with the same concurrency, without any database.
 *
 *   npm run bench:connector                      # SQLite (a fresh file in a temp dir)
 *   BENCH_DB=postgres npm run bench:connector    # PostgreSQL (a fresh schema, dropped at the end)
 *
 * Processes: the fake API runs in a child of its own (bench/fake-acronis-child.ts), so that its
 * parsing and recording of every push competes with neither the connector nor the baseline
 * client; the connector runs as `node -r ts-node/register/transpile-only src/cli/cli.ts connector
 * run`, exactly what `npm run connector:run` starts; the baseline client runs in this process,
 * which does nothing else meanwhile.
 *
 * Timing: the connector's wall time is its run row's `finished_at - started_at` (the pass itself,
 * lease to recorded outcome, without Node/ts-node/Nest start-up); a first pass over zero items
 * measures that start-up, printed for reference.
 *
 * Settings (environment):
 *   BENCH_ITEMS (10000), BENCH_TENANTS (100), BENCH_CONCURRENCY (unset: the service default,
 *   CONNECTOR_CONCURRENCY's), BENCH_SERVICE_MS (20), BENCH_429_FRACTION (0.05),
 *   BENCH_RETRY_AFTER s (1), BENCH_BACKOFF_BASE_MS (1000, CONNECTOR_BACKOFF_BASE_MS's default),
 *   BENCH_DB (sqlite|postgres),
 *   BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test),
 *   BENCH_CPU_PROFILE=<dir> (a V8 CPU profile of the connector run, summarized at the end),
 *   BENCH_CLI_PRELOAD (comma-separated modules the CLI loads first, `node -r`: for counters or
 *   experiments without touching src/), BENCH_SKIP_BASELINE=1,
 *   BENCH_COUNTERS=1 (bench/connector-counters-preload.ts in the CLI: SQL statements with count and
 *   time, transactions and their queueing, the stages of a push slot, event-loop delay; printed at
 *   the end; they cost a little time themselves; BENCH_EXPLAIN_CLAIMS=1 adds the PostgreSQL plans
 *   of the 1st and 1000th claim).
 *
 * Experiments (BENCH_CLI_PRELOAD; they patch the runner in the child, src/ is not changed):
 *   bench/connector-analyze-experiment.ts (ANALYZE connector_items before the pass, PostgreSQL),
 *   bench/connector-group-commit-experiment.ts (outcomes group-committed on PostgreSQL too).
 */
import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import type { AlertBody, WorkloadBody } from '../src/connector/acronis-api.types';
import { ConnectorItemKind, ConnectorItemSource, ConnectorItemState } from '../src/connector/connector-item.entity';
import { newPendingItem } from '../src/connector/connector-items.service';
import { insertPendingItems } from '../src/connector/connector-sync';
import { ConnectorRun } from '../src/connector/connector-run.entity';
import { readDatabaseConfig } from '../src/config/database.config';
import { buildDataSourceOptions } from '../src/database/data-source-options';
import { Organization, OrganizationKind } from '../src/organizations/organization.entity';
import { OrganizationMapping } from '../src/tenant-mapping/organization-mapping.entity';
import { alertBody, workloadBody } from '../test/factories/connector-items';
import { CpuProfile, summarizeProfile } from './cpu-profile-summary';
import type { FakeCommand, FakeStats } from './fake-acronis-child';
import { ProcReadings, ProcWatch } from './proc-stats';
import type { Counters } from './connector-counters-preload';

const ROOT = resolve(__dirname, '..');
const GOAL_RATIO = 1.5;
/** What the CLI falls back to when BENCH_CONCURRENCY is unset and its output does not say (CONNECTOR_CONCURRENCY's default). */
const SERVICE_DEFAULT_CONCURRENCY = 8;
/** Same as the service (AcronisClient.USER_AGENT); the baseline's requests look like the connector's. */
const USER_AGENT = 'ACP 1.0/Vendor Connector';

function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

function fractionEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value >= 1) throw new Error(`${name} must be a number in [0, 1), got "${raw}"`);
  return value;
}

const settings = {
  items: intEnv('BENCH_ITEMS', 10_000),
  tenants: intEnv('BENCH_TENANTS', 100),
  /** null: the service default (CONNECTOR_CONCURRENCY is not passed to the CLI). */
  concurrency: process.env.BENCH_CONCURRENCY ? intEnv('BENCH_CONCURRENCY', SERVICE_DEFAULT_CONCURRENCY) : null,
  serviceMs: intEnv('BENCH_SERVICE_MS', 20, 0),
  fraction429: fractionEnv('BENCH_429_FRACTION', 0.05),
  retryAfterS: intEnv('BENCH_RETRY_AFTER', 1, 0),
  db: process.env.BENCH_DB === 'postgres' ? ('postgres' as const) : ('sqlite' as const),
  databaseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  profileDir: process.env.BENCH_CPU_PROFILE ? resolve(process.env.BENCH_CPU_PROFILE) : null,
  preload: (process.env.BENCH_CLI_PRELOAD ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((s) => resolve(s)),
  skipBaseline: process.env.BENCH_SKIP_BASELINE === '1',
  counters: process.env.BENCH_COUNTERS === '1',
};

/**
 * The connector's retry settings for the run, explicit so that the bench does not move with the
 * defaults: the service's backoff (base 1 s, BENCH_BACKOFF_BASE_MS overrides it); a retry waits
 * max(Retry-After, full jitter up to base x 2^(attempt-1)), so with Retry-After 1 s the first
 * retry of a 429 comes due exactly after it and a second 429 of the same item waits 1-2 s. The
 * pass waits for retries due within 10 minutes, far beyond what this load needs.
 */
const CONNECTOR_RETRY_ENV = {
  CONNECTOR_BACKOFF_BASE_MS: String(intEnv('BENCH_BACKOFF_BASE_MS', 1000)),
  CONNECTOR_BACKOFF_MAX_MS: '30000',
  CONNECTOR_MAX_ATTEMPTS: '8',
  CONNECTOR_MAX_PASS_SECONDS: '600',
  CONNECTOR_REQUEST_TIMEOUT_MS: '10000',
};

// ---------------------------------------------------------------------------------------------
// Child processes and cleanup

const loadAtStart = loadavg()[0];
const children = new Set<ChildProcess>();
const workDir = mkdtempSync(join(tmpdir(), 'connector-bench-'));

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
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

/** The PostgreSQL schema to drop, or nothing (the SQLite file lives in workDir). */
let dropDatabase: (() => Promise<void>) | null = null;

/** Stops every child, drops the database, removes the temp dir; safe to call more than once. */
async function cleanup(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c)));
  const drop = dropDatabase;
  dropDatabase = null;
  await drop?.().catch((error: unknown) => console.error(`could not drop the bench database: ${String(error)}`));
  rmSync(workDir, { recursive: true, force: true });
}

process.on('exit', () => children.forEach((c) => alive(c) && c.kill('SIGKILL')));
/** Set by SIGINT/SIGTERM: what fails after it (the fake going away under the baseline) is not news. */
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping the children`);
    void cleanup().finally(() => process.exit(130));
  });
}


// ---------------------------------------------------------------------------------------------
// The fake Acronis API (child process)

interface Fake {
  child: ChildProcess;
  url: string;
  clientId: string;
  clientSecret: string;
  logFile: string;
}

async function startFake(): Promise<Fake> {
  const logFile = join(workDir, 'fake-acronis.log');
  const out = openSync(logFile, 'a');
  const child = track(
    spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bench/fake-acronis-child.ts'], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', out, out, 'ipc'],
    }),
  );
  closeSync(out);
  const hello = await new Promise<{ url: string; clientId: string; clientSecret: string }>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`fake Acronis API did not start:\n${tail(logFile)}`)), 30_000);
    child.once('message', (message: { url: string; clientId: string; clientSecret: string }) => {
      clearTimeout(timer);
      done(message);
    });
    child.once('exit', (code) => fail(new Error(`fake Acronis API exited (${code}):\n${tail(logFile)}`)));
  });
  return { child, logFile, ...hello };
}

function fakeCommand<T>(fake: Fake, command: FakeCommand): Promise<T> {
  return new Promise((done, fail) => {
    fake.child.once('message', (reply: { ok?: string; error?: string } & T) => (reply.error ? fail(new Error(reply.error)) : done(reply)));
    fake.child.send(command);
  });
}

/** Forgets what the fake recorded and restores the bench behaviour (the 429 pattern starts over). */
async function resetFake(fake: Fake): Promise<void> {
  await fakeCommand(fake, {
    cmd: 'reset',
    behaviour: {
      serviceTimeMs: settings.serviceMs,
      pushFailures:
        settings.fraction429 > 0
          ? {
              fraction: settings.fraction429,
              reply: {
                kind: 'status',
                status: 429,
                body: '{"error":"too_many_requests"}',
                headers: { 'content-type': 'application/json', 'retry-after': String(settings.retryAfterS) },
              },
            }
          : null,
    },
  });
}

async function fakeStats(fake: Fake): Promise<FakeStats> {
  return (await fakeCommand<{ stats: FakeStats }>(fake, { cmd: 'stats' })).stats;
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
  return { env: { SQLITE_PATH: path }, description: `SQLite ${path} (WAL)`, drop: () => Promise.resolve() };
}

async function withDataSource<T>(db: Database, work: (ds: DataSource) => Promise<T>): Promise<T> {
  const ds = new DataSource(buildDataSourceOptions(readDatabaseConfig({ ...process.env, DATABASE_URL: '', DATABASE_SCHEMA: '', ...db.env })));
  await ds.initialize();
  try {
    return await work(ds);
  } finally {
    await ds.destroy();
  }
}

interface BenchItem {
  id: string;
  organizationId: string;
  tenantId: string;
  kind: ConnectorItemKind;
  body: AlertBody | WorkloadBody;
}

/**
 * Migrations, a partner with `tenants` CUSTOMER organizations each mapped to an Acronis tenant,
 * and the items (in memory: inserted later, after the zero-item pass). Item i belongs to customer
 * i mod tenants and alternates alert/workload within it, so every tenant gets the same number of
 * each. Each body carries its item id as a marker (test/factories/connector-items.ts), which the
 * connector forwards verbatim: that is how the fake tells items apart.
 */
async function seedOrganizations(db: Database): Promise<BenchItem[]> {
  return withDataSource(db, async (ds) => {
    await ds.runMigrations();
    const partner = ds.manager.create(Organization, { id: randomUUID(), name: 'Bench Partner Inc.', kind: OrganizationKind.Partner, parentId: null });
    const customers = Array.from({ length: settings.tenants }, (_, i) =>
      ds.manager.create(Organization, { id: randomUUID(), name: `Bench Customer ${i + 1} Inc.`, kind: OrganizationKind.Customer, parentId: partner.id }),
    );
    const tenantOf = new Map(customers.map((c) => [c.id, randomUUID()]));
    // No read-back into the objects (updateEntity(false)): on SQLite a multi-row insert can merge
    // another row's values into them (see test/factories/connector-items.ts).
    const insert = (em: EntityManager, target: typeof Organization | typeof OrganizationMapping, values: object[]) =>
      em.createQueryBuilder().insert().into(target).values(values).updateEntity(false).execute();
    await ds.transaction(async (em) => {
      await insert(em, Organization, [partner]);
      for (let i = 0; i < customers.length; i += 100) await insert(em, Organization, customers.slice(i, i + 100));
      const mappingRows = customers.map((c) => ({ organizationId: c.id, acronisTenantId: tenantOf.get(c.id), acronisDcUrl: null }));
      for (let i = 0; i < mappingRows.length; i += 100) await insert(em, OrganizationMapping, mappingRows.slice(i, i + 100));
    });
    // What the connector will read: the mappings as stored.
    const mappings = await ds.getRepository(OrganizationMapping).find({ order: { organizationId: 'ASC' } });
    if (mappings.length !== settings.tenants || mappings.some((m) => tenantOf.get(m.organizationId) !== m.acronisTenantId)) {
      throw new Error('the stored organizations_mapping rows differ from what the bench inserted');
    }
    return Array.from({ length: settings.items }, (_, i): BenchItem => {
      const mapping = mappings[i % mappings.length];
      const kind = Math.floor(i / mappings.length) % 2 === 0 ? ConnectorItemKind.Alert : ConnectorItemKind.Workload;
      const id = randomUUID();
      return { id, organizationId: mapping.organizationId, tenantId: mapping.acronisTenantId, kind, body: kind === ConnectorItemKind.Alert ? alertBody(id) : workloadBody(id) };
    });
  });
}

/** The items as pending intake items, due now, in one transaction of 100-row INSERTs. */
async function insertItems(db: Database, items: BenchItem[]): Promise<void> {
  await withDataSource(db, async (ds) => {
    const now = new Date();
    const rows = items.map((item) =>
      newPendingItem({ id: item.id, organizationId: item.organizationId, kind: item.kind, source: ConnectorItemSource.Intake, idempotencyKey: item.id, body: item.body, now }),
    );
    // Each workload item's device (its key is the item id) is recorded with it, as the intake does.
    await ds.transaction((em) => insertPendingItems(em, rows));
  });
}

interface DbOutcome {
  /** state → [items, attempts summed]. */
  states: Map<string, { items: number; attempts: number }>;
  /** attempts → items. */
  attempts: Map<number, number>;
  /** The newest run row. */
  run: ConnectorRun | null;
}

async function readOutcome(db: Database): Promise<DbOutcome> {
  return withDataSource(db, async (ds) => {
    const stateRows: Array<{ state: string; items: string | number; attempts: string | number | null }> = await ds.query(
      'SELECT state, COUNT(*) AS items, SUM(attempts) AS attempts FROM connector_items GROUP BY state',
    );
    const attemptRows: Array<{ attempts: string | number; items: string | number }> = await ds.query(
      'SELECT attempts, COUNT(*) AS items FROM connector_items GROUP BY attempts ORDER BY attempts',
    );
    const run = await ds.getRepository(ConnectorRun).find({ order: { startedAt: 'DESC' }, take: 1 });
    return {
      states: new Map(stateRows.map((r) => [r.state, { items: Number(r.items), attempts: Number(r.attempts ?? 0) }])),
      attempts: new Map(attemptRows.map((r) => [Number(r.attempts), Number(r.items)])),
      run: run[0] ?? null,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// The connector pass: the real CLI in a child process

interface CliPass {
  exitCode: number | null;
  output: string;
  /** Spawn to exit, ms. */
  processWallMs: number;
  /** The concurrency the CLI reports using. */
  concurrency: number | null;
  readings: ProcReadings;
  profileFile: string | null;
  counters: Counters | null;
}

async function runCli(name: string, fake: Fake, db: Database): Promise<CliPass> {
  const logFile = join(workDir, `${name}.log`);
  const out = openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: '',
    DATABASE_SCHEMA: '',
    SQLITE_PATH: '',
    ...db.env,
    // No .env of the checkout: the run is configured by this environment alone.
    ENV_FILE: join(workDir, 'no.env'),
    NODE_ENV: 'production',
    CALLBACK_JWT: 'off',
    LOG_LEVEL: 'warn',
    ACRONIS_CLIENT_ID: fake.clientId,
    ACRONIS_CLIENT_SECRET: fake.clientSecret,
    ACRONIS_DC_URL: fake.url,
    CONNECTOR_INTERVAL_MINUTES: '0',
    CONNECTOR_DEMO_ENABLED: 'false',
    ...CONNECTOR_RETRY_ENV,
  };
  if (settings.concurrency === null) delete env.CONNECTOR_CONCURRENCY;
  else env.CONNECTOR_CONCURRENCY = String(settings.concurrency);
  const profileDir = settings.profileDir && name === 'pass' ? settings.profileDir : null;
  const profileName = `connector-run-${settings.db}.cpuprofile`;
  const nodeFlags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${profileName}`] : [];
  const countersFile = settings.counters ? join(workDir, `counters-${name}.json`) : null;
  // Experiments first, so that the counters wrap whatever method they put in place.
  const preload = [...settings.preload, ...(countersFile ? [resolve(__dirname, 'connector-counters-preload.ts')] : [])];
  if (countersFile) env.BENCH_COUNTERS_FILE = countersFile;
  const started = performance.now();
  const child = track(
    spawn(
      process.execPath,
      [...nodeFlags, '-r', 'ts-node/register/transpile-only', ...preload.flatMap((m) => ['-r', m]), 'src/cli/cli.ts', 'connector', 'run'],
      { cwd: ROOT, env, stdio: ['ignore', out, out] },
    ),
  );
  closeSync(out);
  if (child.pid === undefined) throw new Error('could not start the connector CLI');
  const watch = new ProcWatch(child.pid);
  const exitCode = await new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const processWallMs = performance.now() - started;
  const readings = watch.stop();
  const output = readFileSync(logFile, 'utf8');
  const reported = /concurrency (\d+)/.exec(output);
  return {
    exitCode,
    output,
    processWallMs,
    concurrency: reported ? Number(reported[1]) : null,
    readings,
    profileFile: profileDir ? join(profileDir, profileName) : null,
    counters: countersFile && existsSync(countersFile) ? (JSON.parse(readFileSync(countersFile, 'utf8')) as Counters) : null,
  };
}

const runMs = (run: ConnectorRun | null): number | null =>
  run?.finishedAt && run.startedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : null;

// ---------------------------------------------------------------------------------------------
// The baseline: a raw node:http client, same requests, same concurrency, no database

interface Baseline {
  wallMs: number;
  pushes: number;
  rateLimited: number;
  otherErrors: number;
  cpuMs: number;
}

function post(agent: Agent, url: URL, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((done, fail) => {
    const req = httpRequest(
      { agent, host: url.hostname, port: url.port, method: 'POST', path, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

/** The JSON the connector sends for an item (AcronisClient.pushAlert / pushWorkload field order). */
function pushOf(item: BenchItem, clientId: string): { path: string; json: string } {
  if (item.kind === ConnectorItemKind.Alert) {
    const body = item.body as AlertBody;
    const alert = { type: body.type, category: body.category, details: body.details, tenantID: item.tenantId };
    return { path: '/api/alert_manager/v1/alerts', json: JSON.stringify(alert) };
  }
  const body = item.body as WorkloadBody;
  const workload = {
    type: body.type,
    name: body.name,
    attributes: body.attributes,
    client_id: clientId,
    allowed_actions: body.allowed_actions,
    tenant_id: item.tenantId,
    enabled: body.enabled,
  };
  return { path: '/api/workload_management/v5/workloads', json: JSON.stringify({ items: [workload] }) };
}

/**
 * Every item pushed once with `concurrency` requests in flight; a 429 puts its item back in the
 * queue after Retry-After without holding a slot (what the connector does), so the work matches.
 */
async function runBaseline(fake: Fake, items: BenchItem[], concurrency: number): Promise<Baseline> {
  const url = new URL(fake.url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const basic = Buffer.from(`${fake.clientId}:${fake.clientSecret}`).toString('base64');
  const tokenAnswer = await post(agent, url, '/bc/idp/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}`, 'user-agent': USER_AGENT }, 'grant_type=client_credentials');
  const token = (JSON.parse(tokenAnswer.body) as { access_token: string }).access_token;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'user-agent': USER_AGENT };
  let pushes = 0;
  let rateLimited = 0;
  let otherErrors = 0;
  await new Promise<void>((done, fail) => {
    let next = 0;
    const retries: number[] = [];
    let inflight = 0;
    let delayed = 0;
    let settled = 0;
    const pump = (): void => {
      while (inflight < concurrency && (retries.length > 0 || next < items.length)) {
        const index = retries.length > 0 ? (retries.shift() as number) : next++;
        inflight += 1;
        const { path, json } = pushOf(items[index], fake.clientId);
        pushes += 1;
        post(agent, url, path, headers, json).then(
          (answer) => {
            inflight -= 1;
            if (answer.status >= 200 && answer.status < 300) {
              settled += 1;
            } else if (answer.status === 429 || answer.status >= 500) {
              if (answer.status === 429) rateLimited += 1;
              else otherErrors += 1;
              const retryAfter = Number(answer.headers['retry-after'] ?? 1);
              delayed += 1;
              setTimeout(() => {
                delayed -= 1;
                retries.push(index);
                pump();
              }, retryAfter * 1000);
            } else {
              fail(new Error(`baseline push answered ${answer.status}: ${answer.body.slice(0, 200)}`));
              return;
            }
            if (settled === items.length) done();
            else pump();
          },
          (error: unknown) => {
            inflight -= 1;
            otherErrors += 1;
            if (otherErrors > 100) fail(error instanceof Error ? error : new Error(String(error)));
            else {
              retries.push(index);
              pump();
            }
          },
        );
      }
      if (inflight === 0 && delayed === 0 && settled === items.length) done();
    };
    pump();
  });
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  agent.destroy();
  return { wallMs, pushes, rateLimited, otherErrors, cpuMs: (cpu.user + cpu.system) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// Checks on what the fake created

interface Delivery {
  created: number;
  unique: number;
  /** 2xx pushes whose identity had already been created. */
  duplicates: number;
  /** 2xx pushes without an identity the bench can read. */
  unidentified: number;
  /** 2xx pushes of an identity that is not one of the bench's items. */
  unknown: number;
  /** 2xx pushes to another tenant than the item's organization is mapped to. */
  wrongTenant: number;
  /** Items never created. */
  missing: number;
}

function checkDelivery(stats: FakeStats, items: BenchItem[]): Delivery {
  const expected = new Map(items.map((item) => [`marker:${item.id}`, item]));
  const seen = new Map<string, number>();
  let unidentified = 0;
  let unknown = 0;
  let wrongTenant = 0;
  for (const [identity, tenant] of stats.created) {
    if (identity === null) {
      unidentified += 1;
      continue;
    }
    seen.set(identity, (seen.get(identity) ?? 0) + 1);
    const item = expected.get(identity);
    if (!item) unknown += 1;
    else if (item.tenantId !== tenant) wrongTenant += 1;
  }
  const duplicates = [...seen.values()].reduce((sum, n) => sum + n - 1, 0);
  const missing = items.filter((item) => !seen.has(`marker:${item.id}`)).length;
  return { created: stats.created.length, unique: seen.size, duplicates, unidentified, unknown, wrongTenant, missing };
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows: string[][], rightAligned: boolean[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (rightAligned[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const seconds = (ms: number | null): string => (ms === null ? 'n/a' : (ms / 1000).toFixed(2));
/** Rounded up, so that a ratio shown never reads as meeting a goal that it misses. */
const ratio = (value: number | null): string => (value === null ? 'n/a' : `${(Math.ceil(value * 100) / 100).toFixed(2)}x`);
const mib = (value: number | null): string => (value === null ? 'n/a' : value.toFixed(0));

interface Results {
  db: Database;
  concurrency: number;
  empty: CliPass;
  emptyRunMs: number | null;
  pass: CliPass;
  outcome: DbOutcome;
  stats: FakeStats;
  delivery: Delivery;
  baseline: { result: Baseline; stats: FakeStats; delivery: Delivery } | null;
}

const to99 = (stats: FakeStats): number | null =>
  stats.firstPushAt !== null && stats.created99At !== null ? stats.created99At - stats.firstPushAt : null;

function report(r: Results): void {
  const n = settings.items;
  const c = r.concurrency;
  const expected429 = settings.fraction429 > 0 ? (n * settings.fraction429) / (1 - settings.fraction429) : 0;
  const idealMs = (n * settings.serviceMs) / c;
  const idealRetriesMs = ((n + expected429) * settings.serviceMs) / c;
  const measuredMs = runMs(r.outcome.run);
  const count = (state: ConnectorItemState) => r.outcome.states.get(state)?.items ?? 0;
  const status429 = r.stats.byStatus['429'] ?? 0;
  const pushWindowMs = r.stats.firstPushAt !== null && r.stats.lastPushAt !== null ? r.stats.lastPushAt - r.stats.firstPushAt : null;
  const startedAt = r.outcome.run?.startedAt.getTime() ?? null;
  const finishedAt = r.outcome.run?.finishedAt?.getTime() ?? null;

  const [cpu] = cpus();
  console.log('');
  console.log(`node ${process.version}, ${cpus().length} CPUs (${cpu?.model ?? 'unknown'}); fake API, connector CLI and this process on the same machine`);
  console.log(`database: ${r.db.description}`);
  console.log(`load average (1 min) at start ${loadAtStart.toFixed(2)}, at end ${loadavg()[0].toFixed(2)}`);
  console.log(
    `connector: ${Object.entries(CONNECTOR_RETRY_ENV)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}, NODE_ENV=production, LOG_LEVEL=warn` +
      (settings.profileDir ? ', CPU profiler ON (slower than unprofiled)' : '') +
      (settings.preload.length ? `, preload ${settings.preload.join(' ')}` : ''),
  );
  console.log('');
  const rows: string[][] = [
    ['figure', 'value'],
    ['items', String(n)],
    ['tenants (mapped CUSTOMER organizations)', String(settings.tenants)],
    ['concurrency', `${c}${settings.concurrency === null ? ' (service default)' : ' (BENCH_CONCURRENCY)'}`],
    ['service time per push', `${settings.serviceMs} ms`],
    ['429 fraction (Retry-After)', `${settings.fraction429} (${settings.retryAfterS} s)`],
    ['ideal wall time: items x service / concurrency', `${seconds(idealMs)} s`],
    [`ideal incl. retries: (items + ${expected429.toFixed(0)} expected 429s) x service / concurrency`, `${seconds(idealRetriesMs)} s`],
    ['measured wall time (run row finished_at - started_at)', `${seconds(measuredMs)} s`],
    ['measured / ideal', ratio(measuredMs === null ? null : measuredMs / idealMs)],
    ['measured / ideal incl. retries', ratio(measuredMs === null ? null : measuredMs / idealRetriesMs)],
    ['  run start -> first push received by the fake', `${seconds(startedAt !== null && r.stats.firstPushAt !== null ? r.stats.firstPushAt - startedAt : null)} s`],
    ['  first -> last push received', `${seconds(pushWindowMs)} s`],
    [
      '  first push -> 50% / 99% of the items created',
      r.stats.firstPushAt !== null && r.stats.created50At !== null && r.stats.created99At !== null
        ? `${seconds(r.stats.created50At - r.stats.firstPushAt)} / ${seconds(r.stats.created99At - r.stats.firstPushAt)} s`
        : 'n/a',
    ],
    ['  last push received -> run finished', `${seconds(finishedAt !== null && r.stats.lastPushAt !== null ? finishedAt - r.stats.lastPushAt : null)} s`],
    ['  effective concurrency: pushes x service / push window', pushWindowMs ? ((r.stats.pushes * settings.serviceMs) / pushWindowMs).toFixed(2) : 'n/a'],
    ['CLI process wall time (spawn -> exit)', `${seconds(r.pass.processWallMs)} s`],
    ['CLI start-up + shutdown (zero-item pass: process - run row)', `${seconds(r.emptyRunMs === null ? null : r.empty.processWallMs - r.emptyRunMs)} s`],
    ['run row', r.outcome.run ? `${r.outcome.run.status}: sent ${r.outcome.run.sent}, failed ${r.outcome.run.failed}, skipped ${r.outcome.run.skipped}` : 'none'],
    ['items sent (DB state sent)', String(count(ConnectorItemState.Sent))],
    ['items failed (DB state failed)', String(count(ConnectorItemState.Failed))],
    ['items still pending (DB state pending)', String(count(ConnectorItemState.Pending))],
    ['items left sending (DB state sending)', String(count(ConnectorItemState.Sending))],
    [
      'attempts per item (DB): attempts -> items',
      [...r.outcome.attempts.entries()].map(([attempts, items]) => `${attempts}: ${items}`).join(', '),
    ],
    ['token requests the fake received', String(r.stats.tokenRequests)],
    ['pushes the fake received (alerts + workloads)', `${r.stats.pushes} (${r.stats.alerts} + ${r.stats.workloads})`],
    ['  by status', Object.entries(r.stats.byStatus).map(([s, k]) => `${s}: ${k}`).join(', ')],
    ['  429s: expected / received', `${expected429.toFixed(0)} / ${status429}`],
    ['pushes carrying an Idempotency-Key header', String(r.stats.withIdempotencyKey)],
    [
      'other API requests (sync: workload listings, PATCHes, alert look-ups)',
      Object.entries(r.stats.otherRequests ?? {}).map(([op, k]) => `${op}: ${k}`).join(', ') || '0',
    ],
    [
      'on the platform: alerts / workloads / workloads repeating a tenant+key',
      r.stats.platform ? `${r.stats.platform.alerts} / ${r.stats.platform.workloads} / ${r.stats.platform.duplicateWorkloadKeys}` : 'n/a',
    ],
    ['unique item identities created (2xx)', `${r.delivery.unique} of ${n}`],
    ['duplicates (2xx for an identity already created)', String(r.delivery.duplicates)],
    ['created for the wrong tenant / unknown identity / unidentified', `${r.delivery.wrongTenant} / ${r.delivery.unknown} / ${r.delivery.unidentified}`],
    ['items never created', String(r.delivery.missing)],
    ['peak RSS of the CLI (VmHWM)', `${mib(r.pass.readings.peakRssMiB)} MiB (zero-item pass: ${mib(r.empty.readings.peakRssMiB)} MiB)`],
    ['CPU time of the CLI (user + sys)', `${seconds(r.pass.readings.cpuMs)} s (zero-item pass: ${seconds(r.empty.readings.cpuMs)} s)`],
  ];
  console.log(table(rows, [false, true]));
  console.log(
    'identity at the fake: the connector sends no Idempotency-Key header (the Acronis push APIs take none), so an item is\n' +
      'identified by the marker the bench writes into its body (alert details.fields.Marker, workload attributes.marker =\n' +
      'the item id), which the connector forwards verbatim; an Idempotency-Key header, if one were sent, would take precedence.',
  );

  console.log('');
  const compare: string[][] = [
    ['same-run comparison', 'wall s', 'ideal s', 'x ideal', 'x ideal incl. retries', 'to 99% created s', 'pushes', '429s', 'created', 'duplicates', 'CPU s'],
    [
      `gateway: connector run (CLI, ${settings.db})`,
      seconds(measuredMs),
      seconds(idealMs),
      ratio(measuredMs === null ? null : measuredMs / idealMs),
      ratio(measuredMs === null ? null : measuredMs / idealRetriesMs),
      seconds(to99(r.stats)),
      String(r.stats.pushes),
      String(status429),
      String(r.delivery.created),
      String(r.delivery.duplicates),
      seconds(r.pass.readings.cpuMs),
    ],
  ];
  if (r.baseline) {
    const b = r.baseline;
    compare.push([
      'baseline: raw node:http client, no database',
      seconds(b.result.wallMs),
      seconds(idealMs),
      ratio(b.result.wallMs / idealMs),
      ratio(b.result.wallMs / idealRetriesMs),
      seconds(to99(b.stats)),
      String(b.stats.pushes),
      String(b.stats.byStatus['429'] ?? 0),
      String(b.delivery.created),
      String(b.delivery.duplicates),
      seconds(b.result.cpuMs),
    ]);
  }
  console.log(table(compare, [false, ...compare[0].slice(1).map(() => true)]));
  if (r.baseline && measuredMs !== null) {
    console.log(`gateway overhead over the raw client: ${seconds(measuredMs - r.baseline.result.wallMs)} s (${ratio(measuredMs / r.baseline.result.wallMs)} its wall time)`);
  }
  console.log('wall s: gateway from its run row (the pass, without process start-up); baseline from its first request (token) to its last answer');
  console.log('to 99% created s: first push to the push that created the 99th percentile item, at the fake (the rest is the retry tail)');

  const sent = count(ConnectorItemState.Sent);
  const correct =
    sent === n &&
    r.delivery.duplicates === 0 &&
    r.delivery.unique === n &&
    r.delivery.wrongTenant === 0 &&
    r.delivery.missing === 0 &&
    (r.stats.platform === undefined || (r.stats.platform.alerts + r.stats.platform.workloads === n && r.stats.platform.duplicateWorkloadKeys === 0));
  console.log('');
  console.log(correct ? `delivery: all ${n} items sent once, to their tenant, no duplicates` : 'delivery: NOT CORRECT (see sent / duplicates / missing above)');
  const met = measuredMs !== null && measuredMs <= GOAL_RATIO * idealMs && correct;
  console.log(
    `goal: within ${GOAL_RATIO}x of the ideal (${seconds(GOAL_RATIO * idealMs)} s), every item sent, 0 duplicates: ${met ? 'MET' : 'NOT MET'}` +
      ` (${ratio(measuredMs === null ? null : measuredMs / idealMs)})`,
  );
}

function printCounters(counters: Counters, passMs: number | null, concurrency: number): void {
  const t = counters.transactions;
  const { claim, deliver, push, record } = counters.stages;
  const avg = (x: { count: number; totalMs: number }) => (x.count ? (x.totalMs / x.count).toFixed(2) : 'n/a');
  console.log('');
  console.log('counters of the connector CLI (whole process, BENCH_COUNTERS=1):');
  console.log(
    `  transactions: ${t.count}, ${seconds(t.heldMs)} s inside them, ${seconds(t.queuedMs)} s summed waiting in the queue (longest wait ${t.maxQueuedMs.toFixed(0)} ms)`,
  );
  if (counters.poolAcquire.count > 0) {
    const pool = counters.poolAcquire;
    console.log(`  pg pool: ${pool.count} connections taken, ${avg(pool)} ms waiting each (max ${pool.maxMs.toFixed(0)}), included in the statement times`);
  }
  console.log(`  claims: ${claim.count}, ${avg(claim)} ms each (max ${claim.maxMs.toFixed(0)}); items per claim -> claims: ${Object.entries(counters.claimSizes).map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  if (counters.claimTenths.length > 0) console.log(`  claim ms by tenth of the pass: ${counters.claimTenths.map((ms) => ms.toFixed(1)).join(', ')}`);
  console.log(`  slot busy per item (deliver: claimed -> outcome durable): ${avg(deliver)} ms = push ${avg(push)} ms + record ${avg(record)} ms + the rest`);
  if (passMs !== null && deliver.count > 0) {
    const slotMs = (passMs * concurrency) / deliver.count;
    console.log(`  slot time per item (pass x concurrency / deliveries): ${slotMs.toFixed(2)} ms, of which idle between deliveries ${(slotMs - deliver.totalMs / deliver.count).toFixed(2)} ms`);
  }
  const loop = counters.eventLoopDelayMs;
  console.log(`  event-loop lateness (a 10 ms timer's delay beyond its interval): mean ${loop.mean.toFixed(2)} ms, p99 ${loop.p99.toFixed(1)} ms, max ${loop.max.toFixed(0)} ms`);
  for (const plan of counters.claimPlans) console.log(plan.map((line, i) => (i === 0 ? `  ${line}` : `    ${line}`)).join('\n'));
  const totalMs = counters.statements.reduce((sum, s) => sum + s.totalMs, 0);
  const totalCount = counters.statements.reduce((sum, s) => sum + s.count, 0);
  const rows = [
    ['statement', 'count', 'total s', 'ms each', 'max ms', 'rows'],
    ...counters.statements.slice(0, 10).map((s) => [
      s.sql.length > 100 ? `${s.sql.slice(0, 97)}...` : s.sql,
      String(s.count),
      seconds(s.totalMs),
      (s.totalMs / s.count).toFixed(3),
      s.maxMs.toFixed(1),
      String(s.rows),
    ]),
    ['(all statements)', String(totalCount), seconds(totalMs), (totalMs / Math.max(1, totalCount)).toFixed(3), '', ''],
  ];
  console.log(table(rows, [false, true, true, true, true, true]));
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  if (settings.profileDir) mkdirSync(settings.profileDir, { recursive: true });
  const fake = await startFake();
  await resetFake(fake);
  const db = await createDatabase();
  dropDatabase = db.drop;
  try {
    process.stdout.write(`seeding ${settings.tenants} mapped customers on ${settings.db} ... `);
    const items = await seedOrganizations(db);
    console.log('done');

    // A pass over zero items: the CLI's start-up and shutdown, and the concurrency it uses.
    process.stdout.write('connector run over zero items (start-up cost) ... ');
    const empty = await runCli('empty-pass', fake, db);
    if (empty.exitCode !== 0) throw new Error(`the zero-item connector run exited ${empty.exitCode}:\n${empty.output.slice(-3000)}`);
    const emptyOutcome = await readOutcome(db);
    const emptyRunMs = runMs(emptyOutcome.run);
    console.log(`${seconds(empty.processWallMs)} s process, ${seconds(emptyRunMs)} s pass`);
    const concurrency = empty.concurrency ?? settings.concurrency ?? SERVICE_DEFAULT_CONCURRENCY;
    if (empty.concurrency === null) console.log(`   !! the CLI did not report its concurrency; assuming ${concurrency}`);

    let baseline: Results['baseline'] = null;
    if (!settings.skipBaseline) {
      process.stdout.write(`baseline: raw node:http client, ${items.length} pushes, concurrency ${concurrency} ... `);
      await resetFake(fake);
      const result = await runBaseline(fake, items, concurrency);
      const stats = await fakeStats(fake);
      baseline = { result, stats, delivery: checkDelivery(stats, items) };
      console.log(`${seconds(result.wallMs)} s`);
    }

    process.stdout.write(`inserting ${items.length} pending items ... `);
    const insertStarted = performance.now();
    await insertItems(db, items);
    console.log(`${seconds(performance.now() - insertStarted)} s`);

    await resetFake(fake);
    process.stdout.write(`connector run over ${items.length} items (CLI child) ... `);
    const pass = await runCli('pass', fake, db);
    console.log(`exit ${pass.exitCode}, ${seconds(pass.processWallMs)} s process`);
    const outcome = await readOutcome(db);
    const stats = await fakeStats(fake);
    const warnings = pass.output.split('\n').filter((line) => line.trim() !== '' && !/^(connector run|progress:)/.test(line));
    if (warnings.length > 0) {
      console.log(`   CLI output other than progress (${warnings.length} lines), first ones:`);
      for (const line of warnings.slice(0, 10)) console.log(`   | ${line.slice(0, 300)}`);
    }
    if (pass.exitCode !== 0) console.log(`   !! the connector run exited ${pass.exitCode}; last output:\n${pass.output.slice(-2000)}`);

    report({ db, concurrency, empty, emptyRunMs, pass, outcome, stats, delivery: checkDelivery(stats, items), baseline });

    if (pass.counters) printCounters(pass.counters, runMs(outcome.run), concurrency);
    else if (settings.counters) console.log('\nno counters written by the CLI');

    if (pass.profileFile && existsSync(pass.profileFile)) {
      console.log(`\nCPU profile of the connector CLI (${pass.profileFile}):`);
      console.log(summarizeProfile(JSON.parse(readFileSync(pass.profileFile, 'utf8')) as CpuProfile, 15).join('\n'));
    } else if (settings.profileDir) {
      console.log(`\nno CPU profile written (looked for ${pass.profileFile ?? '?'}; ${settings.profileDir} holds ${readdirSync(settings.profileDir).join(', ') || 'nothing'})`);
    }
    console.log(`\nbench took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await cleanup();
  }
}

main().catch(async (error: unknown) => {
  if (interrupted) return;
  console.error(`\nbench failed: ${error instanceof Error ? error.message : String(error)}`);
  await cleanup();
  process.exit(1);
});

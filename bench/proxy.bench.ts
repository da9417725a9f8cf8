/**
 * Callbacks per second through nginx (deploy/nginx/gateway.conf, the compose proxy's settings)
 * in front of one and two gateway replicas on PostgreSQL, and what the proxy costs against going
 * to a replica directly.
 *
 *   npm run bench:proxy
 *
 * The request is the callbacks bench's cached `users_read` (a partner's credentials with the
 * production argon2 cost, verified once and then served from the credential cache; 50 users in
 * the answer). Scenarios, each against the same two running replicas (A, B) and database:
 *   a) direct to A (plain HTTP): the baseline
 *   b) nginx → A, plain HTTP            c) nginx → A, HTTPS
 *   d) nginx → A + B, plain HTTP        e) nginx → A + B, HTTPS
 *   f) direct to A and B at once (two load generators, figures summed): two replicas with no proxy
 *   z) direct to A again: a second baseline, as other work on a shared machine comes and goes;
 *      ratios are against the better of a and z, and the "other" column shows a disturbed run
 * nginx runs gateway.conf unchanged (bench/../test/ops/nginx-process.ts writes the two files it
 * includes); the HTTPS client keeps its connections, so TLS costs its record layer, not a
 * handshake per request (nginx ends a client connection after 1000 requests: keepalive_requests).
 *
 * Everything runs on this machine: the load generator (autocannon, in this process), nginx, the
 * replicas and PostgreSQL share its cores. Per scenario the report shows the CPU each of them used
 * and how busy the whole machine was: with every core busy, req/s measures the machine, not one
 * part of it, and a second replica cannot add cores that are not there.
 *
 * Settings (environment): BENCH_CONNECTIONS (50), BENCH_DURATION s (10), BENCH_WARMUP s (2),
 * BENCH_LOG_LEVEL (warn), BENCH_NGINX_WORKERS (auto, as compose runs it), BENCH_DATABASE_URL
 * (postgres://postgres@127.0.0.1:5432/test), BENCH_SCENARIOS (e.g. "b,d": a subset; a and z always run).
 */
import 'reflect-metadata';
import { Algorithm, hash } from '@node-rs/argon2';
import autocannon from 'autocannon';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { readDatabaseConfig } from '../src/config/database.config';
import { buildDataSourceOptions } from '../src/database/data-source-options';
import { Organization, OrganizationKind } from '../src/organizations/organization.entity';
import { OrganizationMapping } from '../src/tenant-mapping/organization-mapping.entity';
import { User } from '../src/users/user.entity';
import { NginxProcess } from '../test/ops/nginx-process';
import { freePort, ServiceProcess } from '../test/process/service-process';
import { APP_CODE, cyberAppAuth, envelope, responseType } from '../test/setup/protocol';
import { benchUsers, USERS_IN_MAPPED_ORG } from './bench-users';
import { cpuMs } from './proc-stats';

/** USER_HZ, as in proc-stats.ts: /proc/stat counts CPU time in these. */
const CLOCK_TICKS = 100;

const PRODUCTION_ARGON2 = { algorithm: Algorithm.Argon2id, memoryCost: 65536, timeCost: 3, parallelism: 4 };

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

const settings = {
  connections: intEnv('BENCH_CONNECTIONS', 50),
  duration: intEnv('BENCH_DURATION', 10),
  warmup: intEnv('BENCH_WARMUP', 2),
  logLevel: process.env.BENCH_LOG_LEVEL || 'warn',
  nginxWorkers: process.env.BENCH_NGINX_WORKERS ? (process.env.BENCH_NGINX_WORKERS === 'auto' ? ('auto' as const) : intEnv('BENCH_NGINX_WORKERS', 1)) : ('auto' as const),
  databaseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  only: process.env.BENCH_SCENARIOS ? new Set(['a', 'z', ...process.env.BENCH_SCENARIOS.split(',').map((s) => s.trim()).filter(Boolean)]) : null,
};

// ---------------------------------------------------------------------------------------------
// Database and replicas

interface Fixture {
  auth: string;
  tenantId: string;
}

/** Migrations, then a partner (production argon2 cost) whose mapped customer has 50 users. */
async function seed(env: Record<string, string>): Promise<Fixture> {
  const ds = new DataSource(buildDataSourceOptions(readDatabaseConfig(env)));
  await ds.initialize();
  try {
    await ds.runMigrations();
    const partner = ds.manager.create(Organization, { id: randomUUID(), name: 'Bench Partner Inc.', kind: OrganizationKind.Partner, parentId: null });
    const customer = ds.manager.create(Organization, { id: randomUUID(), name: 'Bench Customer Inc.', kind: OrganizationKind.Customer, parentId: partner.id });
    await ds.manager.insert(Organization, [partner, customer]);
    const login = 'bench.partner';
    const password = randomBytes(12).toString('base64url');
    const user = (name: string, organizationId: string, passwordHash: string | null, id: string = randomUUID()) =>
      ds.manager.create(User, { id, login: name.toLowerCase(), name, email: `${name}@bench.example`, password: passwordHash, organizationId });
    await ds.manager.insert(User, user(login, partner.id, await hash(password, PRODUCTION_ARGON2)));
    await ds.manager.insert(User, benchUsers().map((u) => user(u.name, customer.id, null, u.id)));
    const tenantId = randomUUID();
    await ds.manager.insert(OrganizationMapping, { organizationId: customer.id, acronisTenantId: tenantId, acronisDcUrl: null });
    return { auth: cyberAppAuth(login, password), tenantId };
  } finally {
    await ds.destroy();
  }
}

interface Replica {
  name: string;
  port: number;
  service: ServiceProcess;
}

async function startReplica(name: string, dbEnv: Record<string, string>): Promise<Replica> {
  const port = await freePort();
  // Production-like (NODE_ENV, argon2 cost, logging), without the platform JWT (no JWKS to reach).
  const service = ServiceProcess.start({
    ...dbEnv,
    NODE_ENV: 'production',
    CALLBACK_JWT: 'off',
    HOST: '127.0.0.1',
    PORT: String(port),
    APP_CODE,
    LOG_LEVEL: settings.logLevel,
    TRUST_PROXY: '127.0.0.1',
  });
  return { name, port, service };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

type Via = 'direct' | 'nginx-http' | 'nginx-https';

interface Scenario {
  key: string;
  name: string;
  via: Via;
  replicas: 1 | 2;
}

const SCENARIOS: Scenario[] = [
  { key: 'a', name: 'direct → A (HTTP)', via: 'direct', replicas: 1 },
  { key: 'b', name: 'nginx → A (HTTP)', via: 'nginx-http', replicas: 1 },
  { key: 'c', name: 'nginx → A (HTTPS)', via: 'nginx-https', replicas: 1 },
  { key: 'd', name: 'nginx → A+B (HTTP)', via: 'nginx-http', replicas: 2 },
  { key: 'e', name: 'nginx → A+B (HTTPS)', via: 'nginx-https', replicas: 2 },
  { key: 'f', name: 'direct → A and B at once', via: 'direct', replicas: 2 },
  { key: 'z', name: 'direct → A again (drift)', via: 'direct', replicas: 1 },
];

interface Measurement {
  scenario: Scenario;
  reqPerSec: number;
  p50: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
  /** CPU time per answered request, ms: each replica, nginx (master and workers), this process (the load generator). */
  cpu: { replicaA: number; replicaB: number; nginx: number; generator: number; postgres: number; machine: number };
  /** Whole machine: busy share of every core over the measured run, %. */
  machineBusy: number;
}

/** Busy and total jiffies of all CPUs (/proc/stat's first line). */
function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** The local ports of the TCP connections `pid` holds to `remotePort` (Linux /proc: its socket inodes in the connection tables). */
function localPortsTo(pid: number, remotePort: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length >= 10 && inodes.has(cols[9]) && parseInt(cols[2].split(':')[1], 16) === remotePort) ports.push(parseInt(cols[1].split(':')[1], 16));
    }
  }
  return ports;
}

/**
 * The PostgreSQL backends serving the replicas' pools (not the server's other clients, which
 * count as "other"): pg_stat_activity's client ports matched with the replicas' connections.
 */
async function backendsOf(replicaPids: number[]): Promise<number[]> {
  const port = Number(new URL(settings.databaseUrl).port || 5432);
  const ours = new Set(replicaPids.flatMap((pid) => localPortsTo(pid, port)));
  const client = new Client({ connectionString: settings.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number; client_port: number | null }>('SELECT pid, client_port FROM pg_stat_activity');
    return rows.filter((r) => r.client_port !== null && ours.has(r.client_port)).map((r) => r.pid);
  } finally {
    await client.end();
  }
}

function sumCpu(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (cpuMs(pid) ?? 0), 0);
}

/** CPU time of each process, by pid. */
function cpuByPid(pids: number[]): Map<number, number> {
  return new Map(pids.flatMap((pid) => {
    const ms = cpuMs(pid);
    return ms === null ? [] : [[pid, ms] as [number, number]];
  }));
}

/**
 * CPU used between two readings by a changing set of processes (a pool may open a connection
 * during a run, or close an idle one): new processes count in full; what an ended one used since
 * the first reading is lost (under load the pools keep theirs open).
 */
function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, ms] of after) sum += ms - (before.get(pid) ?? 0);
  return sum;
}

function load(url: string, request: autocannon.Request, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url, connections: settings.connections, duration: seconds, requests: [request] });
}

/** One request checked before the load (plain HTTP: fetch would refuse nginx's self-signed certificate). */
async function probe(url: string, request: autocannon.Request, check: (status: number, body: string) => string | null): Promise<void> {
  const res = await fetch(`${url}${request.path ?? '/'}`, {
    method: request.method,
    headers: request.headers as Record<string, string>,
    body: request.body as string,
  }).catch((error: unknown) => {
    throw new Error(`${url}: ${String(error)}`);
  });
  const problem = check(res.status, await res.text());
  if (problem) throw new Error(`${url}: ${problem}`);
}

async function measure(
  scenario: Scenario,
  urls: string[],
  request: autocannon.Request,
  replicas: Replica[],
  nginx: NginxProcess | null,
): Promise<Measurement> {
  process.stdout.write(`${scenario.key}) ${scenario.name}: ${settings.connections} connections${urls.length > 1 ? ' per target' : ''}, ${settings.warmup} s warm-up, ${settings.duration} s ... `);
  await Promise.all(urls.map((url) => load(url, request, settings.warmup)));
  const replicaPids = replicas.map((r) => r.service.child.pid ?? 0);
  const nginxPids = nginx?.pids() ?? [];
  const before = {
    a: cpuMs(replicaPids[0]) ?? 0,
    b: cpuMs(replicaPids[1]) ?? 0,
    nginx: sumCpu(nginxPids),
    postgres: cpuByPid(await backendsOf(replicaPids)),
    generator: process.cpuUsage(),
    machine: machineTicks(),
  };
  const wallStart = performance.now();
  const results = await Promise.all(urls.map((url) => load(url, request, settings.duration)));
  const wall = performance.now() - wallStart;
  const generator = process.cpuUsage(before.generator);
  const machine = machineTicks();
  const postgresAfter = cpuByPid([...new Set([...before.postgres.keys(), ...(await backendsOf(replicaPids))])]);
  const sum = (f: (r: autocannon.Result) => number) => results.reduce((s, r) => s + f(r), 0);
  const total = sum((r) => r.requests.total);
  const perRequest = (ms: number) => ms / Math.max(1, total);
  const m: Measurement = {
    scenario,
    reqPerSec: sum((r) => r.requests.average),
    // Two generators: the worse of the two percentiles (each saw half the load).
    p50: Math.max(...results.map((r) => r.latency.p50)),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    total,
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    cpu: {
      replicaA: perRequest((cpuMs(replicaPids[0]) ?? 0) - before.a),
      replicaB: perRequest((cpuMs(replicaPids[1]) ?? 0) - before.b),
      nginx: perRequest(sumCpu(nginxPids) - before.nginx),
      generator: perRequest((generator.user + generator.system) / 1000),
      postgres: perRequest(cpuBetween(before.postgres, postgresAfter)),
      machine: perRequest(((machine.busy - before.machine.busy) * 1000) / CLOCK_TICKS),
    },
    machineBusy: (100 * (machine.busy - before.machine.busy)) / Math.max(1, machine.total - before.machine.total),
  };
  console.log(`${m.reqPerSec.toFixed(0)} req/s${m.non2xx || m.errors ? ` (!! ${m.non2xx} non-2xx, ${m.errors} errors)` : ''} in ${(wall / 1000).toFixed(1)} s`);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows: string[][], rightAligned: boolean[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (rightAligned[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const ratio = (x: Measurement | undefined, y: Measurement | undefined): string => (x && y ? `${(x.reqPerSec / y.reqPerSec).toFixed(2)}x` : 'n/a');
const ms = (v: number): string => v.toFixed(3);

function report(results: Measurement[], description: string): void {
  const by = (key: string) => results.find((r) => r.scenario.key === key);
  const baselines = results.filter((r) => r.scenario.via === 'direct' && r.scenario.replicas === 1);
  // Other work on a shared machine only ever takes throughput away: the better run is the baseline.
  const direct = baselines.reduce<Measurement | undefined>((best, r) => (best && best.reqPerSec >= r.reqPerSec ? best : r), undefined);
  const rows = [
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non-2xx', 'errors', 'vs a', 'CPU ms/req: A', 'B', 'nginx', 'PostgreSQL', 'generator', 'machine', 'other', 'machine busy %'],
    ...results.map((r) => [
      `${r.scenario.key}) ${r.scenario.name}`,
      r.reqPerSec.toFixed(0),
      r.p50.toFixed(0),
      r.p99.toFixed(0),
      String(r.total),
      String(r.non2xx),
      String(r.errors),
      baselines.includes(r) ? '-' : ratio(r, direct),
      ms(r.cpu.replicaA),
      ms(r.cpu.replicaB),
      ms(r.cpu.nginx),
      ms(r.cpu.postgres),
      ms(r.cpu.generator),
      ms(r.cpu.machine),
      ms(r.cpu.machine - r.cpu.replicaA - r.cpu.replicaB - r.cpu.nginx - r.cpu.postgres - r.cpu.generator),
      r.machineBusy.toFixed(0),
    ]),
  ];
  const [cpu] = cpus();
  console.log('');
  console.log(`node ${process.version}, ${cpus().length} CPUs (${cpu?.model ?? 'unknown'}); load generator, nginx, both replicas and PostgreSQL on this machine`);
  console.log(`database: ${description}`);
  console.log(`load average (1 min) at end ${loadavg()[0].toFixed(2)}; figures taken on a busy machine are noisy`);
  console.log(
    `cached users_read (${USERS_IN_MAPPED_ORG} users), ${settings.connections} connections per target, ${settings.duration} s after ${settings.warmup} s warm-up, ` +
      `replicas NODE_ENV=production LOG_LEVEL=${settings.logLevel}, nginx worker_processes ${settings.nginxWorkers}`,
  );
  console.log('');
  console.log(table(rows, [false, ...rows[0].slice(1).map(() => true)]));
  console.log(`vs a: req/s against direct → A (the better of a and z: ${direct?.reqPerSec.toFixed(0) ?? 'n/a'} req/s); CPU ms/req: CPU time per answered request of each process (nginx: master + workers; PostgreSQL: the backends of the replicas' connections) and of the whole machine (/proc/stat); other: machine minus the parts (the kernel's loopback networking, and whatever else runs: large means a noisy run); machine busy: all cores`);
  console.log('');
  console.log(`proxy cost, one replica:   nginx HTTP ${ratio(by('b'), direct)} and nginx HTTPS ${ratio(by('c'), direct)} of direct`);
  console.log(`scaling, nginx → 2 vs 1:   HTTP ${ratio(by('d'), by('b'))}, HTTPS ${ratio(by('e'), by('c'))}; without a proxy (f vs a) ${ratio(by('f'), direct)}`);
  const saturated = results.filter((r) => r.machineBusy >= 90);
  if (saturated.length > 0) {
    console.log(
      `${saturated.map((r) => r.scenario.key).join(', ')}: the machine was >= 90% busy, so req/s is bounded by its ${cpus().length} cores, ` +
        'shared by the load generator, nginx, the replicas and PostgreSQL: a second replica adds a process there, not CPU. ' +
        'Compare the CPU per request to see what each part costs.',
    );
  }
  const failed = results.filter((r) => r.non2xx > 0 || r.errors > 0);
  console.log(failed.length ? `NOT all 2xx: ${failed.map((r) => `${r.scenario.key}) ${r.non2xx} non-2xx, ${r.errors} errors`).join('; ')}` : 'every response 2xx, no errors');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const schema = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: settings.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const dbEnv = { DATABASE_URL: settings.databaseUrl, DATABASE_SCHEMA: schema };
  const replicas: Replica[] = [];
  let nginx: NginxProcess | null = null;
  const cleanup = async () => {
    await nginx?.stop();
    await Promise.all(replicas.map((r) => r.service.kill()));
    const c = new Client({ connectionString: settings.databaseUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    const fixture = await seed(dbEnv);
    // One after the other: the first applies nothing (seed migrated), but a replica's boot is CPU-heavy.
    for (const name of ['A', 'B']) {
      const replica = await startReplica(name, dbEnv);
      replicas.push(replica);
      await replica.service.waitUntilListening();
    }
    const body = JSON.stringify(envelope('users_read', {}, { tenantId: fixture.tenantId }));
    const request: autocannon.Request = { method: 'POST', path: '/callback', headers: { 'content-type': 'application/json', 'x-cyberapp-auth': fixture.auth }, body };
    const success = responseType(`${APP_CODE}.users_read_success.v1.0`);
    const check = (status: number, text: string): string | null => {
      const answer = JSON.parse(text) as { type?: string; payload?: { items?: unknown[] } };
      return status === 200 && answer.type === success && answer.payload?.items?.length === USERS_IN_MAPPED_ORG ? null : `expected 200 with ${USERS_IN_MAPPED_ORG} users, got ${status} ${text.slice(0, 200)}`;
    };
    const direct = (r: Replica) => `http://127.0.0.1:${r.port}`;
    // Verifies the credentials once per replica (argon2 at production cost, then cached), and
    // warms both up (JIT, connection pools) so that the first scenario is not the cold one.
    for (const r of replicas) await probe(direct(r), request, check);
    process.stdout.write(`warming both replicas up for ${Math.max(5, settings.warmup)} s ... `);
    await Promise.all(replicas.map((r) => load(direct(r), request, Math.max(5, settings.warmup))));
    console.log('done');

    const wanted = SCENARIOS.filter((s) => !settings.only || settings.only.has(s.key));
    const results: Measurement[] = [];
    let nginxFor: 1 | 2 | null = null;
    for (const scenario of wanted) {
      let urls: string[];
      if (scenario.via === 'direct') {
        urls = replicas.slice(0, scenario.replicas).map(direct);
      } else {
        if (nginxFor !== scenario.replicas) {
          await nginx?.stop();
          nginx = null;
          nginx = await NginxProcess.start({
            upstreams: replicas.slice(0, scenario.replicas).map((r) => `127.0.0.1:${r.port}`),
            httpsPort: await freePort(),
            httpPort: await freePort(),
            workerProcesses: settings.nginxWorkers,
          });
          nginxFor = scenario.replicas;
        }
        const n = nginx as NginxProcess;
        urls = [scenario.via === 'nginx-https' ? `https://127.0.0.1:${n.httpsPort}` : `http://127.0.0.1:${n.options.httpPort}`];
        if (scenario.via === 'nginx-http') await probe(urls[0], request, check);
      }
      results.push(await measure(scenario, urls, request, replicas, scenario.via === 'direct' ? null : nginx));
    }
    report(results, `PostgreSQL ${settings.databaseUrl.replace(/:[^:@/]*@/, ':***@')}, schema ${schema}`);
    console.log(`\nbench took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(`\nbench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

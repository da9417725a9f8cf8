/**
 * Action round trips (issue 9): submit through the API → submitAction over the WebSocket →
 * the handler's ack and result → the result stored → our acknowledged, against a raw WebSocket
 * echo doing the same number of request/response round trips at the same concurrency, in the
 * same run.
 *
 *   npm run bench:actions                     # SQLite
 *   BENCH_DB=postgres npm run bench:actions   # PostgreSQL (a fresh schema, dropped at the end)
 *
 * BENCH_ACTIONS (2000), BENCH_CONCURRENCY (16), BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test),
 * BENCH_PROFILE (a file: the gateway's CPU profile of the measured run).
 * The gateway and the echo server each run in a child process; the bench process is the client
 * (HTTP submits and the in-process handler answering at once) in both runs. Latency of an action:
 * from the POST until the handler holds the gateway's acknowledgement of its result (sent after
 * the result's transaction committed).
 */
import { hash } from '@node-rs/argon2';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import WebSocket, { WebSocketServer } from 'ws';
import { ActionApplicability } from '../src/actions/action-applicability.entity';
import { ActionCapability } from '../src/actions/action-capability.entity';
import { ActionHandler } from '../src/actions/action-handler.entity';
import { hashToken, TOKEN_PREFIX } from '../src/actions/action-handlers.service';
import { readDatabaseConfig } from '../src/config/database.config';
import { buildDataSourceOptions } from '../src/database/data-source-options';
import { Organization, OrganizationKind } from '../src/organizations/organization.entity';
import { User } from '../src/users/user.entity';

const ROOT = resolve(__dirname, '..');
const TOTAL = Number(process.env.BENCH_ACTIONS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const DB = process.env.BENCH_DB === 'postgres' ? 'postgres' : 'sqlite';
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface RunResult {
  perSecond: number;
  p50: number;
  p99: number;
  wallMs: number;
}

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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function summarize(latencies: number[], wallMs: number): RunResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (share: number): number => sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))];
  return { perSecond: (latencies.length / wallMs) * 1000, p50: at(0.5), p99: at(0.99), wallMs };
}

/** `total` operations, `concurrency` at a time; each resolves with its latency in ms. */
async function drive(total: number, concurrency: number, one: (n: number) => Promise<void>): Promise<RunResult> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const n = next++;
        const t0 = performance.now();
        await one(n);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return summarize(latencies, performance.now() - started);
}

/** The child role: a raw WebSocket server echoing every frame at once. */
function echoRole(): void {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('listening', () => process.send?.({ port: (wss.address() as AddressInfo).port }));
  wss.on('connection', (ws) => ws.on('message', (data: Buffer) => ws.send(data.toString('utf8'))));
  process.on('disconnect', () => process.exit(0));
}

function spawnChild(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

/** Request/response pairs over one raw WebSocket, matched by id: the floor any action channel sits on. */
async function runEcho(): Promise<RunResult> {
  const child = spawnChild([__filename, 'echo'], process.env);
  try {
    const port = await new Promise<number>((done) => child.once('message', (m: { port: number }) => done(m.port)));
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    await new Promise((done) => ws.once('open', done));
    const waiting = new Map<string, () => void>();
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as { id: string };
      waiting.get(frame.id)?.();
      waiting.delete(frame.id);
    });
    const roundTrip = (n: number): Promise<void> => {
      const id = randomUUID();
      return new Promise<void>((done) => {
        waiting.set(id, done);
        ws.send(JSON.stringify({ type: 'submitAction', id, handler: 'bench', capability: 'Echo', parameters: { n }, timeout: 60_000 }));
      });
    };
    await drive(Math.min(200, TOTAL), CONCURRENCY, roundTrip); // warm-up, as for the gateway
    const result = await drive(TOTAL, CONCURRENCY, roundTrip);
    ws.close();
    return result;
  } finally {
    child.kill('SIGTERM');
  }
}

/** BENCH_PROFILE=<file>: a V8 CPU profile of the gateway during the measured run (bench/gateway-child.ts). */
function gatewayCommand(child: ChildProcess, command: { cmd: string; file?: string }): Promise<void> {
  return new Promise((done) => {
    child.once('message', () => done());
    child.send(command);
  });
}

interface Setup {
  env: Record<string, string>;
  token: string;
  drop(): Promise<void>;
}

async function prepareDatabase(workDir: string): Promise<Setup> {
  let env: Record<string, string>;
  let drop = (): Promise<void> => Promise.resolve();
  if (DB === 'postgres') {
    const schema = `bench_act_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    const admin = new Client({ connectionString: DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    env = { DATABASE_URL, DATABASE_SCHEMA: schema };
    drop = async () => {
      const c = new Client({ connectionString: DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    };
  } else {
    env = { SQLITE_PATH: join(workDir, 'gateway.db') };
  }
  const ds = new DataSource(buildDataSourceOptions(readDatabaseConfig({ DATABASE_URL: '', DATABASE_SCHEMA: '', SQLITE_PATH: '', ...env })));
  await ds.initialize();
  await ds.runMigrations();
  const organizationId = randomUUID();
  await ds.manager.insert(Organization, { id: organizationId, name: 'Bench Partner Inc.', kind: OrganizationKind.Partner, parentId: null });
  const password = await hash('bench-password', { memoryCost: 4096, timeCost: 1, parallelism: 1 });
  await ds.manager.insert(User, { id: randomUUID(), login: 'bench', name: 'Bench', email: 'bench@example.test', password, organizationId });
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const handlerId = randomUUID();
  const now = new Date();
  await ds.manager.insert(ActionHandler, { id: handlerId, organizationId, name: 'bench', tokenHash: hashToken(token), createdBy: null, createdAt: now, revokedAt: null });
  const capabilityId = randomUUID();
  await ds.manager.insert(ActionCapability, {
    id: capabilityId,
    organizationId,
    name: 'Echo',
    description: null,
    mandatoryParameters: ['n'],
    optionalParameters: [],
    createdAt: now,
    updatedAt: now,
  });
  await ds.manager.insert(ActionApplicability, {
    id: randomUUID(),
    organizationId,
    handlerId,
    capabilityId,
    parameters: {},
    createdAt: now,
  });
  await ds.destroy();
  return { env, token, drop };
}

function post(port: number, agent: Agent, path: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; body: string }> {
  const text = JSON.stringify(body);
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let out = '';
      res.setEncoding('utf8').on('data', (c: string) => (out += c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: out }));
    });
    req.on('error', fail);
    req.end(text);
  });
}

async function runGateway(): Promise<RunResult> {
  const workDir = mkdtempSync(join(tmpdir(), 'bench-actions-'));
  const setup = await prepareDatabase(workDir);
  const port = await freePort();
  const child = spawnChild([join(ROOT, 'bench/gateway-child.ts')], {
    PATH: process.env.PATH ?? '',
    ...setup.env,
    ENV_FILE: join(workDir, 'no.env'),
    NODE_ENV: 'production',
    CALLBACK_JWT: 'off',
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
    WEBHOOKS_WORKER_ENABLED: 'false',
  });
  try {
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((done) =>
        request({ host: '127.0.0.1', port, path: '/health/live' }, (res) => done(res.statusCode === 200))
          .on('error', () => done(false))
          .end(),
      );
      if (ok) break;
      if (i > 600) throw new Error('gateway did not start');
      await sleep(200);
    }
    // The in-process handler: ack at once, answer at once, resolve the waiter on our result's ack.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/action-ws/1.0`, ['action-1.0.0', `token-${setup.token}`]);
    await new Promise((done) => ws.once('open', done));
    const stored = new Map<string, () => void>();
    const early = new Set<string>();
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as { type: string; id: string; code?: number };
      if (frame.type === 'submitAction') {
        ws.send(JSON.stringify({ type: 'acknowledged', id: frame.id, code: 200, message: 'submitAction acknowledged' }));
        ws.send(JSON.stringify({ type: 'sendActionResult', id: frame.id, result: JSON.stringify({ message: 'Action successful', code: 200, data: 'ok' }) }));
      } else if (frame.type === 'acknowledged') {
        const done = stored.get(frame.id);
        if (done) {
          stored.delete(frame.id);
          done();
        } else early.add(frame.id);
      }
    });
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const auth = Buffer.from(`bench:${JSON.stringify({ password: 'bench-password' })}`).toString('base64');
    const submitOne = async (n: number): Promise<void> => {
      const res = await post(port, agent, '/api/actions', { 'x-cyberapp-auth': auth }, { capability: 'Echo', parameters: { n }, timeout_ms: 60_000 });
      if (res.status !== 201) throw new Error(`submit answered ${res.status}: ${res.body}`);
      const id = (JSON.parse(res.body) as { id: string }).id;
      if (early.delete(id)) return;
      await new Promise<void>((done) => stored.set(id, done));
    };
    await drive(Math.min(200, TOTAL), CONCURRENCY, submitOne); // warm-up: credential cache, JIT, statement cache
    const profile = process.env.BENCH_PROFILE;
    if (profile) await gatewayCommand(child, { cmd: 'profile-start' });
    const result = await drive(TOTAL, CONCURRENCY, submitOne);
    if (profile) await gatewayCommand(child, { cmd: 'profile-stop', file: resolve(profile) });
    ws.close();
    agent.destroy();
    return result;
  } finally {
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
    await setup.drop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'echo') return echoRole();
  const fmt = (r: RunResult): string => `${r.perSecond.toFixed(0).padStart(7)} round trips/s   p50 ${r.p50.toFixed(2).padStart(7)} ms   p99 ${r.p99.toFixed(2).padStart(7)} ms`;
  process.stdout.write(`actions bench: ${TOTAL} round trips, concurrency ${CONCURRENCY}, database ${DB}\n`);
  const echo = await runEcho();
  process.stdout.write(`raw WebSocket echo (baseline)     ${fmt(echo)}\n`);
  const gateway = await runGateway();
  process.stdout.write(`action submit → stored result     ${fmt(gateway)}\n`);
  process.stdout.write(`ratio to the baseline: ${(gateway.perSecond / echo.perSecond).toFixed(3)} of its throughput, p99 ${(gateway.p99 / echo.p99).toFixed(1)}×\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * What the console benchmarks share (`bench:console`, `bench:console-s3-actions`): the gateway as
 * a child process, plain HTTP calls on one kept-alive connection, the console's sign-in form, and
 * timing a page.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..');

export function intEnv(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}`);
  return value;
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

export function call(port: number, method: 'GET' | 'POST', path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((done, fail) => {
    const t0 = process.hrtime.bigint();
    const req = httpRequest({ host: '127.0.0.1', port, method, path, agent, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(body);
  });
}

export const cookiesOf = (answer: Answer): string[] => {
  const raw = answer.headers['set-cookie'];
  return (raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]).map((c) => c.split(';')[0]);
};

export interface Figures {
  p50: number;
  p95: number;
  max: number;
}

export function figures(samples: number[]): Figures {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1] };
}

export const f1 = (ms: number): string => ms.toFixed(1).padStart(7);

export interface ConsoleKitOptions {
  workDir: string;
  /** Untimed requests, then timed ones, per page. */
  warmup: number;
  requests: number;
  login: string;
  password: string;
  /** Added to the gateway's environment (e.g. a worker switched off). */
  gatewayEnv?: Record<string, string>;
}

/** The gateway children (killed by the caller at the end), their start, the sign-in and a page's timing. */
export function consoleKit(options: ConsoleKitOptions) {
  const children = new Set<ChildProcess>();

  async function startGateway(env: Record<string, string>, logFile: string): Promise<{ child: ChildProcess; port: number }> {
    const port = await freePort();
    const out = openSync(logFile, 'a');
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bench/gateway-child.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: '',
        DATABASE_SCHEMA: '',
        SQLITE_PATH: '',
        ...env,
        ENV_FILE: join(options.workDir, 'no.env'),
        NODE_ENV: 'production',
        CALLBACK_JWT: 'off',
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        LOG_PRETTY: 'false',
        WEBHOOKS_WORKER_ENABLED: 'false',
        WEBHOOKS_RETENTION_INTERVAL_MINUTES: '0',
        CONSOLE_COOKIE_SECRET: randomBytes(32).toString('base64url'),
        ...options.gatewayEnv,
      },
      stdio: ['ignore', out, out, 'ipc'],
    });
    closeSync(out);
    children.add(child);
    child.on('exit', () => children.delete(child));
    for (let i = 0; i < 600; i++) {
      if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}):\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
      const ready = await call(port, 'GET', '/health/ready').catch(() => null);
      if (ready?.status === 200) return { child, port };
      await sleep(200);
    }
    throw new Error(`the gateway did not get ready:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
  }

  /** Signs in through the form as a browser does: the form's cookie and token, then the session cookie. */
  async function signIn(port: number): Promise<string> {
    const form = await call(port, 'GET', '/console/sign-in');
    const token = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1];
    if (form.status !== 200 || !token) throw new Error(`sign-in form: ${form.status}`);
    const origin = `http://127.0.0.1:${port}`;
    const body = new URLSearchParams({ login: options.login, password: options.password, _csrf: token, next: '/console' }).toString();
    const answer = await call(port, 'POST', '/console/sign-in', { cookie: cookiesOf(form).join('; '), origin, 'content-type': 'application/x-www-form-urlencoded' }, body);
    const session = cookiesOf(answer).find((c) => c.startsWith('acgw_console=') && c.length > 'acgw_console='.length);
    if (answer.status !== 303 && answer.status !== 302) throw new Error(`sign-in: ${answer.status} ${answer.body.slice(0, 300)}`);
    if (!session) throw new Error('sign-in: no session cookie');
    return session;
  }

  async function timePage(port: number, cookie: string, path: string, expect: RegExp | null): Promise<Figures> {
    const samples: number[] = [];
    for (let i = 0; i < options.warmup + options.requests; i++) {
      const answer = await call(port, 'GET', path, { cookie });
      if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${answer.body.slice(0, 500)}`);
      if (expect && !expect.test(answer.body)) throw new Error(`GET ${path}: the page does not show ${String(expect)}`);
      if (i >= options.warmup) samples.push(answer.ms);
    }
    return figures(samples);
  }

  return { children, startGateway, signIn, timePage };
}

import { ChildProcess, spawn } from 'node:child_process';
import { Agent, IncomingHttpHeaders, request } from 'node:http';
import { connect, createServer } from 'node:net';
import { resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { readDatabaseConfig } from '../../src/config/database.config';
import { buildDataSourceOptions } from '../../src/database/data-source-options';

const ROOT = resolve(__dirname, '../..');

/** What every spawned service gets: test mode, loopback only, cheap argon2, no platform JWT. */
export const SERVICE_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  HOST: '127.0.0.1',
  CALLBACK_JWT: 'off',
  ARGON2_MEMORY_KIB: '4096',
  ARGON2_TIME_COST: '1',
  ARGON2_PARALLELISM: '1',
};

/** The database a service was given (its `env`), opened from the test; no migrations run from here. */
export function openServiceDatabase(env: Record<string, string>): Promise<DataSource> {
  return new DataSource({ ...buildDataSourceOptions(readDatabaseConfig(env)), migrationsRun: false }).initialize();
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<ServiceProcess>();

/**
 * The real service as production runs it (`src/main.ts` in its own Node process, under ts-node),
 * with its stdout and stderr collected.
 */
export class ServiceProcess {
  readonly exited: Promise<Exit>;
  private collected = '';
  private exit: Exit | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number | undefined,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.collected += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.collected += chunk));
    // 'close' rather than 'exit': it fires once the output pipes are drained too.
    this.exited = new Promise((done) =>
      child.on('close', (code, signal) => {
        this.exit = { code, signal };
        running.delete(this);
        done(this.exit);
      }),
    );
  }

  /**
   * Starts `node -r ts-node/register/transpile-only src/main.ts` with exactly `env` (plus PATH).
   * `tty`: with stdout and stderr a terminal (under util-linux `script`, whose output is collected
   * as usual; killing `script` hangs the terminal up, which stops the service too).
   */
  static start(env: Record<string, string>, options: { tty?: boolean } = {}): ServiceProcess {
    const node = [process.execPath, '-r', 'ts-node/register/transpile-only', 'src/main.ts'];
    const [command, ...args] = options.tty ? ['script', '-qfec', node.join(' '), '/dev/null'] : node;
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const port = env.PORT !== undefined && /^\d+$/.test(env.PORT) ? Number(env.PORT) : undefined;
    const service = new ServiceProcess(child, port);
    running.add(service);
    return service;
  }

  /** Everything the process wrote to stdout and stderr so far. */
  get output(): string {
    return this.collected;
  }

  /** Every line written so far (a terminal's CRLF taken as LF). */
  get lines(): string[] {
    return this.collected.split(/\r?\n/);
  }

  /** stdout/stderr lines that are JSON objects (pino's log lines). */
  get logLines(): Record<string, unknown>[] {
    return this.lines
      .filter((line) => line.startsWith('{'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  }

  /** Resolves once `GET /health/live` answers 200; fails if the process exits first. */
  async waitUntilListening(timeoutMs = 90_000): Promise<void> {
    if (this.port === undefined) throw new Error('no PORT given');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exit) throw new Error(`service exited (${JSON.stringify(this.exit)}) before listening:\n${this.output}`);
      const res = await httpCall(this.port, { path: '/health/live', timeoutMs: 1000 }).catch(() => undefined);
      if (res?.status === 200) return;
      await sleep(250);
    }
    throw new Error(`service did not listen within ${timeoutMs} ms:\n${this.output}`);
  }

  /** Resolves with the exit, or fails if the process is still running after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`service still running after ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILLs the process if it still runs and waits for it to be gone. */
  async kill(): Promise<void> {
    if (!this.exit) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Kills every service started by this test file that is still running (for afterEach). */
export async function killAllServices(): Promise<void> {
  await Promise.all([...running].map((s) => s.kill()));
}

/**
 * The service as the background worker of a crash or multi-process spec: on `database`, a free
 * port, warnings only, loopback receivers allowed, polling every 100 ms, the retention sweep off;
 * `env` adds to that or overrides it.
 */
export async function startWorkerService(database: { env: Record<string, string> }, env: Record<string, string> = {}): Promise<ServiceProcess> {
  return ServiceProcess.start({
    ...SERVICE_ENV,
    ...database.env,
    PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8',
    WEBHOOKS_POLL_MS: '100',
    WEBHOOKS_RETENTION_INTERVAL_MINUTES: '0',
    ...env,
  });
}

/**
 * A TCP port nothing listens on right now, below the kernel's ephemeral range (32768 and up on
 * Linux): a port taken from that range can become the local port of some outgoing connection
 * before the service started on it binds, and the service then fails with EADDRINUSE (seen in CI).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((done) => {
      const server = createServer();
      server.once('error', () => done(false));
      server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
    });
    if (free) return port;
  }
}

/** Tries to connect to `port` every 100 ms until stopped; `stop()` tells whether any attempt succeeded. */
export function watchPort(port: number): { stop(): boolean } {
  let connected = false;
  const probe = () =>
    connect(port, '127.0.0.1')
      .on('connect', function (this: ReturnType<typeof connect>) {
        connected = true;
        this.destroy();
      })
      .on('error', () => undefined);
  probe();
  const timer = setInterval(probe, 100);
  return {
    stop: () => {
      clearInterval(timer);
      return connected;
    },
  };
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpCallOptions {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  agent?: Agent;
  timeoutMs?: number;
  /**
   * Sends `Expect: 100-continue` and the body only once the server has answered `100 Continue`,
   * i.e. once it has parsed the request and started handling it.
   */
  expectContinue?: boolean;
  /** Called once the whole request (body included) has been handed to the kernel. */
  onSent?: () => void;
}

/** One plain-HTTP request to 127.0.0.1; a reset or refused connection rejects. */
export function httpCall(port: number, options: HttpCallOptions): Promise<HttpResult> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? (body === undefined ? 'GET' : 'POST'),
        path: options.path,
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 30_000,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.expectContinue ? { expect: '100-continue' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${options.path}: no answer within ${options.timeoutMs ?? 30_000} ms`)));
    req.on('error', fail);
    req.on('finish', () => options.onSent?.());
    if (options.expectContinue) {
      req.on('continue', () => req.end(body));
      req.flushHeaders();
    } else {
      req.end(body);
    }
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

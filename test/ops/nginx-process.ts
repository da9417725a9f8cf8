import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { selfSignedPems } from '../setup/tls-files';

const ROOT = resolve(__dirname, '../..');
/** The server block and proxy settings every deployment uses: docker compose, the e2e test, the bench. */
export const GATEWAY_CONF = join(ROOT, 'deploy/nginx/gateway.conf');

/** `NGINX_BIN`, else `nginx` on PATH or in /usr/sbin (Debian's package); null when there is none. */
export function findNginx(): string | null {
  const candidates = [
    process.env.NGINX_BIN,
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'nginx')),
    '/usr/sbin/nginx',
    '/usr/local/sbin/nginx',
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not there
    }
  }
  return null;
}

export interface NginxOptions {
  /** The upstream's replicas, `host:port`. */
  upstreams: string[];
  /** HTTPS port on 127.0.0.1 (a self-signed certificate for localhost / 127.0.0.1 is generated). */
  httpsPort: number;
  /** Also plain HTTP on this port of 127.0.0.1 (the bench: proxy cost without TLS). */
  httpPort?: number;
  /** Default 1; compose runs `auto`. */
  workerProcesses?: number | 'auto';
}

/** One line of the access log (`gateway_json` in deploy/nginx/gateway.conf). */
export interface AccessLogEntry {
  time: string;
  request_id: string;
  remote_addr: string;
  method: string;
  uri: string;
  status: number;
  upstream: string;
  upstream_status: string;
  upstream_time: string;
  request_time: number;
}

const running = new Set<NginxProcess>();
// Last resort (the test process ends without afterAll): no nginx outlives it.
process.on('exit', () => running.forEach((n) => n.killNow()));

/**
 * A real nginx (non-daemon, its own prefix in a temp dir) running deploy/nginx/gateway.conf
 * unchanged: the temp dir holds only the deployment-specific files that gateway.conf includes
 * by relative path (`gateway-upstreams.conf`, `gateway-listen.conf`) and a main nginx.conf with
 * the paths a non-root nginx needs; that main file includes gateway.conf by its absolute path.
 */
export class NginxProcess {
  private collected = '';
  private exitCode: number | null | undefined;
  readonly exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    readonly options: NginxOptions,
    /** The self-signed certificate nginx presents (PEM). */
    readonly cert: string,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.collected += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.collected += chunk));
    this.exited = new Promise((done) =>
      child.on('close', (code) => {
        this.exitCode = code;
        running.delete(this);
        done();
      }),
    );
  }

  static async start(options: NginxOptions): Promise<NginxProcess> {
    const bin = findNginx();
    if (!bin) throw new Error('nginx not found: install Debian\'s nginx-light (`apt-get install -y nginx-light`, as .ci/run does) or set NGINX_BIN');
    const dir = mkdtempSync(join(tmpdir(), 'gateway-nginx-'));
    // Started as root, nginx's workers run as an unprivileged user: they must reach the temp dirs.
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'temp'), { mode: 0o755 });
    const pems = await selfSignedPems();
    writeFileSync(join(dir, 'tls.crt'), pems.cert);
    writeFileSync(join(dir, 'tls.key'), pems.private, { mode: 0o600 });
    writeFileSync(join(dir, 'gateway-upstreams.conf'), options.upstreams.map((u) => `server ${u};\n`).join(''));
    writeFileSync(
      join(dir, 'gateway-listen.conf'),
      [
        `listen 127.0.0.1:${options.httpsPort} ssl;`,
        ...(options.httpPort !== undefined ? [`listen 127.0.0.1:${options.httpPort};`] : []),
        `ssl_certificate ${join(dir, 'tls.crt')};`,
        `ssl_certificate_key ${join(dir, 'tls.key')};`,
        '',
      ].join('\n'),
    );
    const temp = (name: string) => join(dir, 'temp', name);
    writeFileSync(
      join(dir, 'nginx.conf'),
      [
        'daemon off;',
        `worker_processes ${options.workerProcesses ?? 1};`,
        `pid ${join(dir, 'nginx.pid')};`,
        'error_log stderr warn;',
        'events { worker_connections 1024; }',
        'http {',
        `    client_body_temp_path ${temp('body')};`,
        `    proxy_temp_path ${temp('proxy')};`,
        `    fastcgi_temp_path ${temp('fastcgi')};`,
        `    uwsgi_temp_path ${temp('uwsgi')};`,
        `    scgi_temp_path ${temp('scgi')};`,
        `    include ${GATEWAY_CONF};`,
        `    access_log ${join(dir, 'access.log')} gateway_json;`,
        '}',
        '',
      ].join('\n'),
    );
    const child = spawn(bin, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const nginx = new NginxProcess(child, dir, options, pems.cert);
    running.add(nginx);
    try {
      await nginx.waitUntilListening();
    } catch (error) {
      await nginx.stop();
      throw error;
    }
    return nginx;
  }

  get httpsPort(): number {
    return this.options.httpsPort;
  }

  /** What nginx wrote to stderr (its error log). */
  get output(): string {
    return this.collected;
  }

  /** The access log so far, one entry per request answered. */
  accessLog(): AccessLogEntry[] {
    const file = join(this.dir, 'access.log');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AccessLogEntry);
  }

  /** The master and its workers (Linux /proc), for CPU readings. */
  pids(): number[] {
    const master = this.child.pid;
    if (master === undefined) return [];
    const workers = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(master);
        } catch {
          return false;
        }
      })
      .map(Number);
    return [master, ...workers];
  }

  private async waitUntilListening(timeoutMs = 10_000): Promise<void> {
    const ports = [this.options.httpsPort, ...(this.options.httpPort !== undefined ? [this.options.httpPort] : [])];
    const deadline = Date.now() + timeoutMs;
    for (const port of ports) {
      for (;;) {
        if (this.exitCode !== undefined) throw new Error(`nginx exited (${this.exitCode}) before listening:\n${this.output}`);
        if (await canConnect(port)) break;
        if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} within ${timeoutMs} ms:\n${this.output}`);
        await new Promise((done) => setTimeout(done, 50));
      }
    }
  }

  /** Fast shutdown (SIGTERM: the master stops its workers), then the temp dir goes. */
  async stop(): Promise<void> {
    if (this.exitCode === undefined) {
      const workers = this.pids().slice(1);
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.killNow(workers), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGKILL to the master and its workers (which would outlive a killed master). */
  killNow(workers = this.pids().slice(1)): void {
    for (const pid of workers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

export interface ProxyResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ProxyCallOptions {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** A string is sent as is (with Content-Length); anything else as JSON. */
  body?: unknown;
  /** Send the body in chunks without Content-Length (Transfer-Encoding: chunked). */
  chunked?: boolean;
  /** The client's own address on the loopback (127.0.0.2, …): what nginx sees as `$remote_addr`. */
  localAddress?: string;
  agent?: Agent;
  timeoutMs?: number;
}

/**
 * One HTTPS request to nginx on 127.0.0.1. Resolves with the answer even when nginx answers
 * before the whole body is sent (a 413) and the rest of the upload then fails.
 */
export function proxyCall(port: number, options: ProxyCallOptions): Promise<ProxyResult> {
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  return new Promise((done, fail) => {
    let answered = false;
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? (body === undefined ? 'GET' : 'POST'),
        path: options.path,
        // The certificate is the test's own self-signed one; what is under test is behind it.
        rejectUnauthorized: false,
        agent: options.agent ?? false,
        localAddress: options.localAddress,
        timeout: options.timeoutMs ?? 30_000,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(body !== undefined && !options.chunked ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
          ...options.headers,
        },
      },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${options.path}: no answer within ${options.timeoutMs ?? 30_000} ms`)));
    req.on('error', (error) => {
      if (!answered) fail(error);
    });
    if (body !== undefined && options.chunked) {
      const chunkSize = 64 * 1024;
      for (let i = 0; i < body.length; i += chunkSize) req.write(body.slice(i, i + chunkSize));
      req.end();
    } else {
      req.end(body);
    }
  });
}

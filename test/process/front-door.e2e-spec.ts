import { get } from 'node:https';
import { createServer, Server, Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { createTestDatabase, TestDatabase } from '../setup/test-database';
import { createTlsFiles, TlsFiles } from '../setup/tls-files';
import { freePort, killAllServices, SERVICE_ENV, ServiceProcess } from './service-process';

// Each test starts `src/main.ts` under ts-node, which takes several seconds on its own.
jest.setTimeout(120_000);

type LogLine = Record<string, unknown>;

const ERROR_LEVEL = 50;
const DEBUG_LEVEL = 20;

/** A TCP server that accepts connections and never says a word (a PostgreSQL host that hangs). */
async function silentServer(): Promise<{ port: number; firstConnectionAt: () => number | undefined; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  let first: number | undefined;
  const server: Server = createServer((socket) => {
    first ??= Date.now();
    sockets.push(socket);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    firstConnectionAt: () => first,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((done) => server.close(() => done()));
    },
  };
}

/** GET over HTTPS trusting only `ca`; resolves with the status. */
function httpsStatus(url: string, ca: string): Promise<number> {
  return new Promise((done, fail) => {
    get(url, { ca, agent: false }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    }).on('error', fail);
  });
}

/** Waits until a line matching `test` has been written; fails if the process exits first. */
async function waitForLine(service: ServiceProcess, test: RegExp, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = service.lines.find((l) => test.test(l));
    if (line !== undefined) return line;
    const exited = await Promise.race([service.exited, new Promise<undefined>((done) => setTimeout(() => done(undefined), 200))]);
    if (exited || Date.now() > deadline) throw new Error(`no line matching ${test}:\n${service.output}`);
  }
}

/**
 * A start-up that cannot succeed ends with exit 1 and exactly one error line, a JSON log line at
 * fatal level saying why, after no line claiming the service started.
 */
function expectOneFailureLine(service: ServiceProcess, exit: { code: number | null }): LogLine {
  expect(exit.code).toBe(1);
  expect(service.output).not.toMatch(/successfully started|Listening on/);
  const errors = service.logLines.filter((l) => Number(l.level) >= ERROR_LEVEL);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ level: 60, context: 'Main' });
  expect(errors[0]).not.toHaveProperty('err');
  // Nothing else on the error side: no stack trace, no Nest error line.
  expect(service.lines.filter((l) => l.trim() !== '' && !l.startsWith('{'))).toEqual([]);
  return errors[0];
}

describe('the service says where it listens, or why it cannot, in the log format of its surroundings', () => {
  let db: TestDatabase;
  let tls: TlsFiles;

  beforeAll(async () => {
    tls = await createTlsFiles();
  });

  afterAll(() => tls.remove());

  beforeEach(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await killAllServices();
    await db.drop();
  });

  it('logs one line with its URL (https, host, port) and the OpenAPI docs URL; Nest route mapping at debug; a signal logs the shutdown', async () => {
    const port = await freePort();
    const service = ServiceProcess.start({ ...SERVICE_ENV, ...db.env, PORT: String(port), LOG_LEVEL: 'debug', TLS_CERT_FILE: tls.certFile, TLS_KEY_FILE: tls.keyFile });
    await waitForLine(service, /Listening on/);

    const listening = service.logLines.filter((l) => String(l.msg).startsWith('Listening on'));
    expect(listening).toEqual([
      expect.objectContaining({
        level: 30,
        context: 'Main',
        url: `https://127.0.0.1:${port}`,
        docs: `https://127.0.0.1:${port}/api/docs`,
        msg: `Listening on https://127.0.0.1:${port}; OpenAPI docs at https://127.0.0.1:${port}/api/docs`,
      }),
    ]);
    expect(await httpsStatus(`https://127.0.0.1:${port}/api/docs`, tls.cert)).toBe(200);

    const routeLines = service.logLines.filter((l) => ['RouterExplorer', 'RoutesResolver', 'InstanceLoader'].includes(String(l.context)));
    expect(routeLines.length).toBeGreaterThan(20);
    expect(new Set(routeLines.map((l) => l.level))).toEqual(new Set([DEBUG_LEVEL]));
    expect(service.logLines.find((l) => l.msg === 'Nest application successfully started')).toMatchObject({ level: DEBUG_LEVEL });

    service.child.kill('SIGINT');
    expect(await service.waitForExit(15_000)).toEqual({ code: 0, signal: null });
    const shutdown = service.logLines.filter((l) => /^Shutdown /.test(String(l.msg)));
    expect(shutdown).toEqual([
      expect.objectContaining({ level: 30, signal: 'SIGINT', msg: expect.stringMatching(/^Shutdown started \(SIGINT\)/) }),
      expect.objectContaining({ level: 30, durationMs: expect.any(Number), msg: expect.stringMatching(/^Shutdown finished in \d+ ms$/) }),
    ]);
  });

  it('port taken: exits 1 with one line naming the address and PORT', async () => {
    const holder = createServer();
    const port = await new Promise<number>((done) => holder.listen(0, '127.0.0.1', () => done((holder.address() as { port: number }).port)));
    try {
      const service = ServiceProcess.start({ ...SERVICE_ENV, ...db.env, PORT: String(port) });
      const line = expectOneFailureLine(service, await service.waitForExit(90_000));
      expect(line.msg).toBe(`Cannot listen on 127.0.0.1:${port}: the address is already in use (EADDRINUSE). Stop the process listening there, or set PORT to a free port.`);
    } finally {
      await new Promise((done) => holder.close(done));
    }
  });

  it.each([
    ['TLS_CERT_FILE', () => ({ TLS_CERT_FILE: join(tls.dir, 'missing-cert.pem'), TLS_KEY_FILE: tls.keyFile })],
    ['TLS_KEY_FILE', () => ({ TLS_CERT_FILE: tls.certFile, TLS_KEY_FILE: join(tls.dir, 'missing-key.pem') })],
  ])('a TLS file missing: exits 1 with one line naming %s and the path', async (variable, tls) => {
    const port = await freePort();
    const env = tls();
    const service = ServiceProcess.start({ ...SERVICE_ENV, ...db.env, PORT: String(port), ...env });
    const line = expectOneFailureLine(service, await service.waitForExit(90_000));
    const path = variable === 'TLS_CERT_FILE' ? env.TLS_CERT_FILE : env.TLS_KEY_FILE;
    expect(line.msg).toBe(`${variable}=${path}: cannot read the file (no such file)`);
  });

  it('PostgreSQL refusing connections: exits 1 after DATABASE_CONNECT_TIMEOUT_MS with one line naming host:port', async () => {
    const pgPort = await freePort();
    const service = ServiceProcess.start({
      ...SERVICE_ENV,
      PORT: String(await freePort()),
      DATABASE_URL: `postgres://gateway:secret-pw@127.0.0.1:${pgPort}/gateway`,
      DATABASE_CONNECT_TIMEOUT_MS: '1500',
    });
    const line = expectOneFailureLine(service, await service.waitForExit(90_000));
    expect(line.msg).toBe(
      `PostgreSQL gateway@127.0.0.1:${pgPort}/gateway did not accept a connection within 1500 ms (DATABASE_CONNECT_TIMEOUT_MS): connect ECONNREFUSED 127.0.0.1:${pgPort}`,
    );
    expect(service.output).not.toContain('secret-pw');
  });

  it('PostgreSQL accepting but never answering: gives up after DATABASE_CONNECT_TIMEOUT_MS, not TypeORM retries', async () => {
    const silent = await silentServer();
    try {
      const service = ServiceProcess.start({
        ...SERVICE_ENV,
        PORT: String(await freePort()),
        DATABASE_URL: `postgres://gateway@127.0.0.1:${silent.port}/gateway`,
        DATABASE_CONNECT_TIMEOUT_MS: '1500',
      });
      const exit = await service.waitForExit(90_000);
      const exitedAt = Date.now();
      const line = expectOneFailureLine(service, exit);
      expect(line.msg).toMatch(new RegExp(`^PostgreSQL gateway@127\\.0\\.0\\.1:${silent.port}/gateway did not accept a connection within 1500 ms \\(DATABASE_CONNECT_TIMEOUT_MS\\)`));
      // From its first attempt to its exit: the bound, plus a busy machine's slack.
      expect(exitedAt - (silent.firstConnectionAt() ?? 0)).toBeLessThan(1500 + 3000);
    } finally {
      await silent.close();
    }
  });

  describe('log format', () => {
    it('is human-readable on a terminal outside production', async () => {
      const port = await freePort();
      const service = ServiceProcess.start({ ...SERVICE_ENV, ...db.env, NODE_ENV: 'development', PORT: String(port), LOG_LEVEL: 'info' }, { tty: true });
      // pino-pretty colours on a terminal: compare without the escapes.
      // eslint-disable-next-line no-control-regex
      const plain = (text: string): string => text.replace(/\u001b\[[0-9;]*m/g, '');
      const line = plain(await waitForLine(service, /Listening on/));
      expect(line).toMatch(new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\] INFO: \\[Main\\] Listening on http://127\\.0\\.0\\.1:${port}; OpenAPI docs at http://127\\.0\\.0\\.1:${port}/api/docs$`));
      expect(service.logLines).toEqual([]);
    });

    it('is JSON on a terminal with LOG_PRETTY=false', async () => {
      const service = ServiceProcess.start({ ...SERVICE_ENV, ...db.env, NODE_ENV: 'development', PORT: String(await freePort()), LOG_PRETTY: 'false' }, { tty: true });
      await waitForLine(service, /Listening on/);
      const written = service.lines.filter((l) => l.trim() !== '');
      expect(written.length).toBeGreaterThan(0);
      expect(written.every((l) => l.startsWith('{'))).toBe(true);
    });

    it('stays JSON, with a warning, when LOG_PRETTY=true but pino-pretty is not installed (a production install)', async () => {
      const service = ServiceProcess.start({
        ...SERVICE_ENV,
        ...db.env,
        PORT: String(await freePort()),
        LOG_PRETTY: 'true',
        NODE_OPTIONS: `--require ${resolve(__dirname, '../fixtures/without-pino-pretty.js')}`,
      });
      await service.waitUntilListening();
      const written = service.lines.filter((l) => l.trim() !== '');
      expect(written.every((l) => l.startsWith('{'))).toBe(true);
      expect(service.logLines).toContainEqual(
        expect.objectContaining({ level: 40, msg: 'LOG_PRETTY=true but pino-pretty is not installed (a development dependency): logging JSON lines' }),
      );
      expect(service.logLines.filter((l) => String(l.msg).startsWith('Listening on'))).toHaveLength(1);
    });
  });
});

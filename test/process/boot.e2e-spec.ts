import { hash } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import { createOrganization, createUser } from '../factories/organizations';
import { cyberAppAuth, envelope, responseType } from '../setup/protocol';
import { createTestDatabase, TestDatabase } from '../setup/test-database';
import { freePort, httpCall, killAllServices, openServiceDatabase, SERVICE_ENV, ServiceProcess, sleep, watchPort } from './service-process';

// Each test starts `src/main.ts` under ts-node, which takes several seconds on its own.
jest.setTimeout(120_000);

async function startService(db: TestDatabase, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const service = ServiceProcess.start({ ...SERVICE_ENV, ...db.env, PORT: String(await freePort()), ...env });
  await service.waitUntilListening();
  return service;
}

/** A partner organization with one user who can authenticate; `cost` is the argon2 cost of the stored hash. */
async function seedCaller(
  db: TestDatabase,
  cost = { memoryCost: 4096, timeCost: 1, parallelism: 1 },
): Promise<{ organizationId: string; auth: string; password: string }> {
  const ds = await openServiceDatabase(db.env);
  try {
    const password = `pw-${randomUUID()}`;
    const org = await createOrganization(ds);
    const user = await createUser(ds, { organizationId: org.id, passwordHash: await hash(password, cost) });
    return { organizationId: org.id, auth: cyberAppAuth(user.login, password), password };
  } finally {
    await ds.destroy();
  }
}

/** The cost argon2-cffi (the Python sample) hashes with: what production hashes look like. */
const ARGON2_CFFI_COST = { memoryCost: 65536, timeCost: 3, parallelism: 4 };

describe('the service process (src/main.ts)', () => {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await killAllServices();
    await db.drop();
  });

  describe('start-up', () => {
    it('applies the migrations to an empty database at start, then reports ready', async () => {
      const before = await openServiceDatabase(db.env);
      const pendingBefore = await before.showMigrations();
      await before.destroy();
      expect(pendingBefore).toBe(true);

      const service = await startService(db);
      const ready = await httpCall(service.port ?? 0, { path: '/health/ready' });
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.body)).toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });

      const after = await openServiceDatabase(db.env);
      try {
        expect(await after.showMigrations()).toBe(false);
      } finally {
        await after.destroy();
      }
    });

    it('refuses to start when PORT is not a number, naming the variable', async () => {
      const service = ServiceProcess.start({ ...SERVICE_ENV, ...db.env, PORT: 'abc' });
      const exit = await service.waitForExit(60_000);
      expect(exit.code).not.toBe(0);
      expect(service.output).toMatch(/PORT="abc"/);
      expect(service.output).not.toMatch(/successfully started/);
    });

    it('refuses to start when DATABASE_URL is not a PostgreSQL URL, naming the variable, without ever listening', async () => {
      const port = await freePort();
      const probe = watchPort(port);
      const service = ServiceProcess.start({ ...SERVICE_ENV, ...db.env, PORT: String(port), DATABASE_URL: 'mysql://x' });
      const exit = await service.waitForExit(60_000);
      expect(probe.stop()).toBe(false);
      expect(exit.code).not.toBe(0);
      expect(service.output).toMatch(/DATABASE_URL="mysql:\/\/x": DATABASE_URL must be a postgres:\/\/ URL/);
      expect(service.output).not.toMatch(/successfully started/);
    });
  });

  describe('logs', () => {
    let service: ServiceProcess;
    let caller: Awaited<ReturnType<typeof seedCaller>>;
    const bearer = `secret-token-${randomUUID()}`;

    beforeEach(async () => {
      service = await startService(db, { LOG_LEVEL: 'info' });
      caller = await seedCaller(db);
    });

    function authenticatedCallback() {
      return httpCall(service.port ?? 0, {
        path: '/callback',
        headers: { 'x-cyberapp-auth': caller.auth, authorization: `Bearer ${bearer}` },
        body: envelope('enablement.read'),
      });
    }

    async function logLineOf(requestId: string): Promise<Record<string, unknown>> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const line = service.logLines.find((l) => (l.req as { id?: unknown } | undefined)?.id === requestId);
        if (line) return line;
        if (Date.now() > deadline) throw new Error(`no log line for request ${requestId}:\n${service.output}`);
        await sleep(100);
      }
    }

    it('at info, says where it listens in one line and leaves out the module and route lines of Nest', () => {
      const port = service.port ?? 0;
      expect(service.logLines.filter((l) => String(l.msg).startsWith('Listening on'))).toEqual([
        expect.objectContaining({ level: 30, url: `http://127.0.0.1:${port}`, docs: `http://127.0.0.1:${port}/api/docs` }),
      ]);
      const chatter = service.logLines.filter((l) => ['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer'].includes(String(l.context)));
      expect(chatter).toEqual([]);
      expect(service.output).not.toMatch(/Mapped \{|successfully started/);
    });

    it('writes one JSON line per request carrying the id returned in x-request-id', async () => {
      const res = await authenticatedCallback();
      expect(res.status).toBe(200);
      const requestId = res.headers['x-request-id'];
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);

      const line = await logLineOf(String(requestId));
      expect(line).toMatchObject({ msg: 'request completed', req: { method: 'POST', url: '/callback' }, res: { statusCode: 200 } });
      const completed = service.logLines.filter((l) => l.msg === 'request completed' && (l.req as { id?: unknown }).id === requestId);
      expect(completed).toHaveLength(1);
    });

    it('never writes the X-CyberApp-Auth value, the password or the bearer token, only [redacted]', async () => {
      const res = await authenticatedCallback();
      expect(res.status).toBe(200);
      const line = await logLineOf(String(res.headers['x-request-id']));
      expect(line.req).toMatchObject({ headers: { 'x-cyberapp-auth': '[redacted]', authorization: '[redacted]' } });

      // Let the process flush everything it has to say, then search all of it.
      service.child.kill('SIGTERM');
      await service.waitForExit(15_000);
      expect(service.output).toContain('[redacted]');
      expect(service.output).not.toContain(caller.auth);
      expect(service.output).not.toContain(caller.password);
      expect(service.output).not.toContain(bearer);
      expect(service.output).not.toContain('secret-token');
    });

    it('never writes an S3 intake path token: the URL is logged with [redacted] in its place', async () => {
      const token = `tok${randomUUID().replace(/-/g, '')}`;
      const res = await httpCall(service.port ?? 0, { path: `/s3-events/${token}`, headers: {}, body: { Records: [] } });
      expect(res.status).toBe(404);
      const line = await logLineOf(String(res.headers['x-request-id']));
      expect(line.req).toMatchObject({ url: '/s3-events/[redacted]' });
      service.child.kill('SIGTERM');
      await service.waitForExit(15_000);
      expect(service.output).not.toContain(token);
    });
  });

  describe('shutdown', () => {
    let agent: Agent;

    beforeEach(() => {
      agent = new Agent({ keepAlive: true });
    });

    afterEach(() => agent.destroy());

    /**
     * Sends `count` enablement.read callbacks on kept-alive connections (one of them reused after a
     * finished exchange), waits until the service has taken each one (`100 Continue`), then sends
     * SIGTERM. Every callback verifies a stored hash of the given cost (no credential cache), so
     * they are still running when the signal lands.
     */
    async function signalWhileBusy(
      count: number,
      env: Record<string, string>,
      cost: { memoryCost: number; timeCost: number; parallelism: number },
    ) {
      const service = await startService(db, { LOG_LEVEL: 'warn', AUTH_CACHE_ENABLED: 'false', ...env });
      const caller = await seedCaller(db, cost);
      const call = (onSent?: () => void) =>
        httpCall(service.port ?? 0, {
          path: '/callback',
          headers: { 'x-cyberapp-auth': caller.auth },
          body: envelope('enablement.read'),
          agent,
          expectContinue: onSent !== undefined,
          onSent,
        });
      expect((await call()).status).toBe(200);

      let sent = 0;
      let allSent: () => void = () => undefined;
      const whenAllSent = new Promise<void>((done) => (allSent = done));
      const answeredAt: number[] = [];
      const inFlight = Array.from({ length: count }, () =>
        call(() => ++sent === count && allSent()).then((res) => {
          answeredAt.push(Date.now());
          return res;
        }),
      );
      await whenAllSent;
      service.child.kill('SIGTERM');
      // Settled from the start: a reset connection must not surface as an unhandled rejection.
      return { service, caller, outcomes: Promise.allSettled(inFlight), answeredAt, signalledAt: Date.now() };
    }

    it('finishes the callbacks in flight when SIGTERM arrives, then exits 0', async () => {
      // argon2-cffi's cost (~0.15 s a verification): six of them keep two cores busy for a second.
      const { service, caller, answeredAt, signalledAt, ...rest } = await signalWhileBusy(6, {}, ARGON2_CFFI_COST);

      const outcomes = await rest.outcomes;
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.status : String(o.reason)))).toEqual(Array(6).fill(200));
      for (const o of outcomes) {
        if (o.status === 'fulfilled') {
          expect(JSON.parse(o.value.body)).toMatchObject({
            type: responseType('a.p.enablement.read.ok.v1.0'),
            payload: { vendor_tenant_id: caller.organizationId },
          });
        }
      }
      // The test proves something only if the signal really came before (some of) the answers.
      expect(answeredAt.some((t) => t >= signalledAt)).toBe(true);

      expect(await service.waitForExit(10_000)).toEqual({ code: 0, signal: null });
    });

    it('stops waiting for callbacks still running after SHUTDOWN_TIMEOUT_MS and exits 1', async () => {
      // Far slower verifications (~0.5 s each) than the 100 ms allowed for the drain. Only a few:
      // process.exit() itself waits for the argon2 work already queued on libuv's thread pool.
      const { service, outcomes } = await signalWhileBusy(
        3,
        { SHUTDOWN_TIMEOUT_MS: '100' },
        { memoryCost: 65536, timeCost: 20, parallelism: 1 },
      );

      expect(await service.waitForExit(10_000)).toEqual({ code: 1, signal: null });
      expect(service.output).toMatch(/SHUTDOWN_TIMEOUT_MS=100/);
      // Cut off rather than answered: the drain was abandoned.
      expect((await outcomes).some((o) => o.status === 'rejected')).toBe(true);
    });
  });
});

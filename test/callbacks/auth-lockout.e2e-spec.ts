import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { CredentialCache } from '../../src/auth/credential-cache.service';
import { readDatabaseConfig } from '../../src/config/database.config';
import { buildDataSourceOptions } from '../../src/database/data-source-options';
import { createTree, Tree } from '../factories/organizations';
import { freePort, killAllServices, SERVICE_ENV, ServiceProcess, sleep } from '../process/service-process';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { createTestDatabase, TestDatabase } from '../setup/test-database';
import { cyberAppAuth, envelope } from '../setup/protocol';

// One test starts `src/main.ts` under ts-node, which takes several seconds on its own.
jest.setTimeout(120_000);

/*
 * Issue 16: failed passwords must not let anyone lock a partner out. The platform calls from
 * 127.0.0.1, the attacker from 127.0.0.2 (both loopback: the client binds its local address),
 * against the app listening on 127.0.0.1 for real, so the gateway sees each by the address it
 * connects from.
 */
const PLATFORM = '127.0.0.1';
const ATTACKER = '127.0.0.2';
const PER_PAIR = 3;
const CEILING = 5;

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: { code?: string; err_message?: string };
}

/** One request from `from` (the client's local address) to the gateway on 127.0.0.1:`port`. */
function call(port: number, from: string, path: string, auth: string, headers: Record<string, string> = {}): Promise<Answer> {
  const body = path === '/callback' ? JSON.stringify(envelope('enablement.read')) : undefined;
  return new Promise((done, fail) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        localAddress: from,
        method: body === undefined ? 'GET' : 'POST',
        path,
        agent: false,
        headers: { 'x-cyberapp-auth': auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const retryAfter = res.headers['retry-after'];
          done({ status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, body: text ? (JSON.parse(text) as Answer['body']) : {} });
        });
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

const LIMITS = {
  AUTH_FAILURES_PER_IDENTITY_ADDRESS: String(PER_PAIR),
  AUTH_FAILURES_PER_IDENTITY: String(CEILING),
  AUTH_FAILURES_PER_ADDRESS: '50',
  AUTH_FAILURE_WINDOW_SECONDS: '60',
  // Short, so that the platform's credentials leave the cache during a test and are verified again.
  AUTH_CACHE_TTL_SECONDS: '1',
};

describe('failed authentications cannot lock a partner out', () => {
  let t: TestApp;
  let port: number;
  let tree: Tree;
  let right: string;
  const wrong = (n: number) => cyberAppAuth('partner', `guess-${n}`);
  const from = (address: string, auth: string, path = '/callback', headers: Record<string, string> = {}) => call(port, address, path, auth, headers);

  async function start(env: Record<string, string> = {}): Promise<void> {
    t = await createTestApp({ ...LIMITS, ...env });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as AddressInfo).port;
    tree = await createTree(t.dataSource);
    right = cyberAppAuth('partner', tree.password);
  }
  afterEach(() => t.close());

  /** Waits until the partner's verified credentials have left the cache (AUTH_CACHE_TTL_SECONDS=1). */
  async function cacheExpired(): Promise<void> {
    const cache = t.app.get(CredentialCache);
    for (let i = 0; i < 40 && cache.get('partner', tree.password); i++) await sleep(100);
    expect(cache.get('partner', tree.password)).toBeUndefined();
  }

  describe('without a proxy', () => {
    beforeEach(() => start());

    it('keeps answering the platform 200 while another address hammers its login, also after its cached credentials expire', async () => {
      expect((await from(PLATFORM, right)).status).toBe(200);
      const attacker: number[] = [];
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 3; i++) attacker.push((await from(ATTACKER, wrong(round * 3 + i), i % 2 ? '/api/webhooks' : '/callback')).status);
        expect((await from(PLATFORM, right)).status).toBe(200);
        expect((await from(PLATFORM, right, '/api/webhooks')).status).toBe(200);
      }
      // The attacker got its budget of 401s, then 429s only: the limit against guessing holds.
      expect(attacker).toEqual([...Array<number>(PER_PAIR).fill(401), ...Array<number>(12 - PER_PAIR).fill(429)]);

      await cacheExpired();
      expect((await from(PLATFORM, right)).status).toBe(200);
      await cacheExpired();
      expect((await from(PLATFORM, right, '/api/webhooks')).status).toBe(200);
      // The attacker's address stays blocked, even with the right password (it never authenticated).
      expect((await from(ATTACKER, right)).status).toBe(429);
    });

    it('serves a new address with the right password while another address hammers', async () => {
      for (let i = 0; i < 10; i++) await from(ATTACKER, wrong(i));
      expect((await from(ATTACKER, wrong(99))).status).toBe(429);
      expect((await from('127.0.0.3', right)).status).toBe(200);
      await cacheExpired();
      expect((await from('127.0.0.4', right, '/api/webhooks')).status).toBe(200);
    });

    it('slows guessing spread over many addresses, one attempt per window each, without refusing the platform or a new address with the right password', async () => {
      expect((await from(PLATFORM, right)).status).toBe(200);
      // Two attackers fail 3 + 2 times: the login's ceiling of 5 is reached.
      for (let i = 0; i < PER_PAIR; i++) expect((await from('127.0.0.2', wrong(i))).status).toBe(401);
      for (let i = 0; i < CEILING - PER_PAIR; i++) expect((await from('127.0.0.3', wrong(i))).status).toBe(401);
      // Past the ceiling, an address that has tried already is refused before its own budget is spent…
      expect((await from('127.0.0.3', wrong(9))).status).toBe(429);
      // …and every other address gets one attempt: a third attacker gets one guess.
      expect((await from('127.0.0.4', wrong(1))).status).toBe(401);
      const slowed = await from('127.0.0.4', wrong(2));
      expect(slowed.status).toBe(429);
      expect(slowed.body.err_message).toMatch(/for this login/);
      expect(Number(slowed.retryAfter)).toBeGreaterThan(0);
      // A new address with the right password gets in on its one attempt, and the platform is never refused.
      await cacheExpired();
      expect((await from('127.0.0.5', right)).status).toBe(200);
      await cacheExpired();
      expect((await from(PLATFORM, right)).status).toBe(200);
    });

    it('does not answer a blocked address from the credential cache', async () => {
      expect((await from(PLATFORM, right)).status).toBe(200); // now cached
      for (let i = 0; i < PER_PAIR; i++) await from(ATTACKER, wrong(i));
      expect((await from(ATTACKER, right)).status).toBe(429);
      expect((await from(PLATFORM, right)).status).toBe(200);
    });

    it('identifies the client by the address it connects from, never by an X-Forwarded-For it sends', async () => {
      expect((await from(PLATFORM, right)).status).toBe(200);
      const forged = { 'x-forwarded-for': PLATFORM };
      for (let i = 0; i < PER_PAIR; i++) expect((await from(ATTACKER, wrong(i), '/callback', forged)).status).toBe(401);
      // Claiming the platform's address does not earn its exemption: the attacker is limited as 127.0.0.2.
      const refused = await from(ATTACKER, wrong(9), '/callback', forged);
      expect(refused.status).toBe(429);
      expect(refused.body.err_message).toContain(`from ${ATTACKER}`);
      expect((await from(PLATFORM, right)).status).toBe(200);
    });
  });

  describe('behind a proxy at 127.0.0.1 (TRUST_PROXY=127.0.0.1)', () => {
    beforeEach(() => start({ TRUST_PROXY: PROXY }));
    const PROXY = '127.0.0.1';
    const via = (client: string, auth: string) => from(PROXY, auth, '/callback', { 'x-forwarded-for': client });

    it("limits each client by the address the proxy forwards, and a client that is not the proxy by its own", async () => {
      expect((await via('192.0.2.1', right)).status).toBe(200); // the platform, behind the proxy
      for (let i = 0; i < PER_PAIR; i++) expect((await via('192.0.2.66', wrong(i))).status).toBe(401);
      const refused = await via('192.0.2.66', wrong(9));
      expect(refused.status).toBe(429);
      expect(refused.body.err_message).toContain('from 192.0.2.66');
      // Another client behind the same proxy, and the platform, are not affected.
      expect((await via('192.0.2.7', wrong(0))).status).toBe(401);
      await cacheExpired();
      expect((await via('192.0.2.1', right)).status).toBe(200);
      // 127.0.0.2 is not the trusted proxy: its X-Forwarded-For is ignored.
      for (let i = 0; i < PER_PAIR; i++) await from(ATTACKER, wrong(i), '/callback', { 'x-forwarded-for': '192.0.2.1' });
      const direct = await from(ATTACKER, wrong(9), '/callback', { 'x-forwarded-for': '192.0.2.1' });
      expect(direct.status).toBe(429);
      expect(direct.body.err_message).toContain(`from ${ATTACKER}`);
    });
  });
});

describe('a refusal by the failure limiter, as the service process logs it', () => {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await killAllServices();
    await db.drop();
  });

  it('answers 429 saying when to retry and logs one warning naming the login and address, never the password', async () => {
    const port = await freePort();
    const service = ServiceProcess.start({ ...SERVICE_ENV, ...db.env, ...LIMITS, PORT: String(port), LOG_LEVEL: 'warn' });
    await service.waitUntilListening();
    const ds = await new DataSource({ ...buildDataSourceOptions(readDatabaseConfig(db.env)), migrationsRun: false }).initialize();
    const tree = await createTree(ds).finally(() => ds.destroy());

    const guesses = Array.from({ length: PER_PAIR + 5 }, (_, i) => `secret-guess-${i}`);
    const answers: Answer[] = [];
    for (const guess of guesses) answers.push(await call(port, ATTACKER, '/callback', cyberAppAuth('partner', guess)));
    expect(answers.map((a) => a.status)).toEqual([...Array<number>(PER_PAIR).fill(401), ...Array<number>(5).fill(429)]);
    const refused = answers[PER_PAIR];
    expect(refused.body.code).toBe('RATE_LIMITED');
    expect(refused.body.err_message).toBe(
      `Too many failed authentication attempts for this login from ${ATTACKER}; the credentials were not checked. Retry after ${refused.retryAfter} seconds.`,
    );
    expect(Number(refused.retryAfter)).toBeGreaterThan(50);
    expect((await call(port, PLATFORM, '/callback', cyberAppAuth('partner', tree.password))).status).toBe(200);

    // Pino writes asynchronously: wait for the line.
    const warnings = () => service.logLines.filter((l) => l.level === 40 && String(l.msg).includes('failure limiter'));
    for (let i = 0; i < 50 && warnings().length === 0; i++) await sleep(100);
    await sleep(200);
    // Once per budget and window, however often the client is refused.
    expect(warnings()).toEqual([
      expect.objectContaining({
        identity: 'partner',
        address: ATTACKER,
        limit: 'identity+address',
        retryAfterSeconds: Number(refused.retryAfter),
        msg: expect.stringMatching(/^Authentication refused by the failure limiter .*not by a password check/),
      }),
    ]);
    for (const secret of [...guesses, tree.password]) expect(service.output).not.toContain(secret);
  });
});

import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { AlertBody, PushOutcome, WorkloadBody } from '../../src/connector/acronis-api.types';
import { AcronisClient, AcronisClientConfig } from '../../src/connector/acronis-client.service';
import { FakeAcronisApi, replies, startFakeAcronisApi } from '../fakes/fake-acronis-api';

const TENANT = '6a5c2a0e-7c83-4b8f-9d2e-0f7b8e1c3d4a';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** docs/protocols.md alert example, `<app>` = vendor.app. */
const ALERT: AlertBody = {
  type: 'cti.a.p.am.alert.v1.0~a.p.basic.v1.0~vendor.app.malware_detected.v1.0',
  category: 'cti.a.p.am.category.v1.0~vendor.app.protection.v1.0',
  details: {
    title: 'Malware Quarantined',
    category: 'Malware Detected',
    description: 'Malicious file "trojan.exe" was put into quarantine.',
    fields: { 'Malware type': 'Trojan', 'Device ID': 'device-42', 'Full path': 'C:\\Users\\john\\Downloads\\trojan.exe' },
  },
};

/** docs/protocols.md workload example. */
const WORKLOAD: WorkloadBody = {
  type: 'cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.virtual_machine.v1.0',
  name: 'vm-web-01',
  attributes: {},
  allowed_actions: [],
  enabled: true,
};

const TWO_HOURS_S = 7200;
const realNow = Date.now.bind(Date);

describe('AcronisClient against the fake Acronis API', () => {
  let api: FakeAcronisApi;
  const clients: AcronisClient[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

  /** A client for the fake, as the connector module would configure it. */
  function clientFor(target: FakeAcronisApi = api, overrides: Partial<AcronisClientConfig> = {}): AcronisClient {
    const client = new AcronisClient({
      credentials: { clientId: target.clientId, clientSecret: target.clientSecret, dcUrl: target.url },
      requestTimeoutMs: 2000,
      ...overrides,
    });
    clients.push(client);
    return client;
  }

  /** Moves the clock of both the client and the fake (same process) `offsetMs` ahead. */
  function advanceClock(offsetMs: number): void {
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + offsetMs);
  }

  beforeAll(async () => {
    api = await startFakeAcronisApi();
    process.on('unhandledRejection', onUnhandled);
  });

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await api.close();
  });

  beforeEach(() => {
    api.reset();
    unhandled.length = 0;
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    for (const client of clients.splice(0)) client.onModuleDestroy();
    // Let any stray rejection surface before checking.
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });

  describe('token', () => {
    it('requests a token once and reuses it across many pushes', async () => {
      const client = clientFor();
      for (let i = 0; i < 10; i++) {
        expect((await client.pushAlert(TENANT, ALERT)).kind).toBe('sent');
        expect((await client.pushWorkload(TENANT, WORKLOAD)).kind).toBe('sent');
      }

      expect(api.tokenRequests).toHaveLength(1);
      const bearers = new Set([...api.alerts, ...api.workloads].map((push) => push.token));
      expect([...bearers]).toEqual([api.issuedTokens[0]]);
    });

    it('shares one token request between concurrent first pushes', async () => {
      api.setBehaviour({ tokenServiceTimeMs: 100 });
      const client = clientFor();

      const outcomes = await Promise.all(Array.from({ length: 25 }, (_, i) => (i % 2 ? client.pushAlert(TENANT, ALERT) : client.pushWorkload(TENANT, WORKLOAD))));

      expect(outcomes.map((o) => o.kind)).toEqual(Array(25).fill('sent'));
      expect(api.tokenRequests).toHaveLength(1);
    });

    it('renews a 2-hour token 60 s before it expires, not earlier', async () => {
      const client = clientFor();
      await client.pushAlert(TENANT, ALERT);

      advanceClock((TWO_HOURS_S - 61) * 1000);
      await client.pushAlert(TENANT, ALERT);
      expect(api.tokenRequests).toHaveLength(1);

      advanceClock((TWO_HOURS_S - 59) * 1000);
      await client.pushAlert(TENANT, ALERT);
      expect(api.tokenRequests).toHaveLength(2);
      expect(api.alerts.map((push) => push.token)).toEqual([api.issuedTokens[0], api.issuedTokens[0], api.issuedTokens[1]]);
      expect(api.alerts.every((push) => push.status === 200)).toBe(true);
    });

    it('renews a short-lived token when 90% of its lifetime has passed', async () => {
      api.setBehaviour({ tokenLifetimeSeconds: 100 });
      const client = clientFor();
      await client.pushAlert(TENANT, ALERT);

      advanceClock(88_000);
      await client.pushAlert(TENANT, ALERT);
      expect(api.tokenRequests).toHaveLength(1);

      advanceClock(91_000);
      await client.pushAlert(TENANT, ALERT);
      expect(api.tokenRequests).toHaveLength(2);
    });

    it('accepts a token answer with expires_in instead of expires_on', async () => {
      api.setBehaviour({ tokenExpiryField: 'expires_in' });
      const client = clientFor();

      expect((await client.pushAlert(TENANT, ALERT)).kind).toBe('sent');
      advanceClock((TWO_HOURS_S - 61) * 1000);
      expect((await client.pushAlert(TENANT, ALERT)).kind).toBe('sent');
      expect(api.tokenRequests).toHaveLength(1);

      advanceClock((TWO_HOURS_S - 59) * 1000);
      expect((await client.pushAlert(TENANT, ALERT)).kind).toBe('sent');
      expect(api.tokenRequests).toHaveLength(2);
    });

    it.each([
      ['an HTML page', replies.html()],
      ['truncated JSON', replies.truncatedJson()],
      ['JSON without access_token', replies.json(200, { token_type: 'bearer', expires_in: 7200 })],
      ['a 500', replies.serverError()],
      ['a 401 (wrong credentials)', replies.json(401, { error: 'invalid_client' })],
    ])('turns a token answer of %s into a retry, and asks again on the next push', async (_name, garbage) => {
      api.enqueue('token', garbage);
      const client = clientFor();

      const outcome = await client.pushAlert(TENANT, ALERT);
      expect(outcome).toEqual({ kind: 'retry', status: null, error: expect.stringMatching(/^token request/), retryAfterMs: null });
      expect(api.alerts).toHaveLength(0);

      expect((await client.pushAlert(TENANT, ALERT)).kind).toBe('sent');
      expect(api.tokenRequests).toHaveLength(2);
    });

    it('gives every concurrent caller the same retry when the shared token request fails', async () => {
      api.setBehaviour({ tokenServiceTimeMs: 50 });
      api.enqueue('token', replies.html(502));
      const client = clientFor();

      const outcomes = await Promise.all(Array.from({ length: 5 }, () => client.pushWorkload(TENANT, WORKLOAD)));

      expect(outcomes.map((o) => o.kind)).toEqual(Array(5).fill('retry'));
      expect(api.tokenRequests).toHaveLength(1);
    });

    it('passes on the Retry-After of a rate-limited token request', async () => {
      api.enqueue('token', replies.rateLimited(30));

      const outcome = await clientFor().pushAlert(TENANT, ALERT);

      expect(outcome).toMatchObject({ kind: 'retry', status: null, retryAfterMs: 30_000 });
    });

    it('turns a token request that hangs into a retry after the timeout', async () => {
      api.enqueue('token', replies.hang());

      const outcome = await clientFor(api, { requestTimeoutMs: 200 }).pushAlert(TENANT, ALERT);

      expect(outcome).toMatchObject({ kind: 'retry', status: null, error: expect.stringMatching(/^token request failed: ETIMEDOUT/) });
    });
  });

  describe('401 on a push', () => {
    it('refreshes the token once and retries the push once', async () => {
      const client = clientFor();
      await client.pushAlert(TENANT, ALERT);
      api.expireTokens();

      const outcome = await client.pushAlert(TENANT, ALERT);

      expect(outcome).toEqual({ kind: 'sent', status: 200, remoteId: expect.stringMatching(UUID) });
      expect(api.tokenRequests).toHaveLength(2);
      expect(api.alerts.map((push) => [push.token, push.status])).toEqual([
        [api.issuedTokens[0], 200],
        [api.issuedTokens[0], 401],
        [api.issuedTokens[1], 200],
      ]);
    });

    it('refreshes once for all concurrent pushes that got a 401', async () => {
      const client = clientFor();
      await client.pushWorkload(TENANT, WORKLOAD);
      api.expireTokens();
      api.setBehaviour({ tokenServiceTimeMs: 50 });

      const outcomes = await Promise.all(Array.from({ length: 20 }, () => client.pushWorkload(TENANT, WORKLOAD)));

      expect(outcomes.map((o) => o.kind)).toEqual(Array(20).fill('sent'));
      expect(api.tokenRequests).toHaveLength(2);
    });

    it('rejects the push when the retry with a fresh token gets a 401 again', async () => {
      api.enqueue('alerts', replies.unauthorized(), 2);

      const outcome = await clientFor().pushAlert(TENANT, ALERT);

      expect(outcome).toEqual({ kind: 'reject', status: 401, error: expect.stringContaining('HTTP 401') });
      expect(api.tokenRequests).toHaveLength(2);
      expect(api.alerts).toHaveLength(2);
    });

    it('retries later when the token refresh after a 401 fails', async () => {
      const client = clientFor();
      await client.pushAlert(TENANT, ALERT);
      api.enqueue('alerts', replies.unauthorized());
      api.enqueue('token', replies.truncatedJson());

      const outcome = await client.pushAlert(TENANT, ALERT);

      expect(outcome).toMatchObject({ kind: 'retry', status: null, error: expect.stringMatching(/^token request/) });
    });
  });

  describe('retryable answers', () => {
    it('retries a 429 after its Retry-After seconds', async () => {
      api.enqueue('alerts', replies.rateLimited(7));

      const outcome = await clientFor().pushAlert(TENANT, ALERT);

      expect(outcome).toEqual({ kind: 'retry', status: 429, error: expect.stringContaining('HTTP 429'), retryAfterMs: 7000 });
    });

    it('reads a Retry-After given as an HTTP date', async () => {
      api.enqueue('workloads', replies.rateLimited(new Date(Date.now() + 120_000).toUTCString()));

      const outcome = await clientFor().pushWorkload(TENANT, WORKLOAD);

      expect(outcome.kind).toBe('retry');
      const { retryAfterMs } = outcome as Extract<PushOutcome, { kind: 'retry' }>;
      expect(retryAfterMs).toBeGreaterThan(115_000);
      expect(retryAfterMs).toBeLessThanOrEqual(120_000);
    });

    it.each([500, 502, 503])('retries a %i', async (status) => {
      api.enqueue('pushes', replies.serverError(status));

      const outcome = await clientFor().pushWorkload(TENANT, WORKLOAD);

      expect(outcome).toEqual({ kind: 'retry', status, error: expect.stringContaining(`HTTP ${status}`), retryAfterMs: null });
    });

    it('retries a push that hangs, once the request timeout has passed', async () => {
      const client = clientFor(api, { requestTimeoutMs: 300 });
      await client.pushAlert(TENANT, ALERT);
      api.enqueue('alerts', replies.hang());

      const started = Date.now();
      const outcome = await client.pushAlert(TENANT, ALERT);
      const elapsed = Date.now() - started;

      expect(outcome).toEqual({ kind: 'retry', status: null, error: expect.stringMatching(/^ETIMEDOUT: .*300 ms/), retryAfterMs: null });
      expect(elapsed).toBeGreaterThanOrEqual(280);
      expect(elapsed).toBeLessThan(2000);
    });

    it('retries when the connection is refused', async () => {
      const closedPort = await unusedPort();
      const client = new AcronisClient({
        credentials: { clientId: 'id', clientSecret: 'secret', dcUrl: `http://127.0.0.1:${closedPort}` },
        requestTimeoutMs: 2000,
      });
      clients.push(client);

      const outcome = await client.pushAlert(TENANT, ALERT);

      expect(outcome).toMatchObject({ kind: 'retry', status: null, error: expect.stringContaining('ECONNREFUSED') });
    });

    it('retries when the connection is reset mid-push', async () => {
      api.enqueue('alerts', replies.reset());

      const outcome = await clientFor().pushAlert(TENANT, ALERT);

      expect(outcome).toMatchObject({ kind: 'retry', status: null, error: expect.stringMatching(/^ECONNRESET/) });
    });

    it('retries a redirect instead of following it (a wrong data center URL is not the item\'s fault)', async () => {
      api.enqueue('alerts', replies.status(301, '', { location: 'https://eu8-cloud.acronis.com/api/alert_manager/v1/alerts' }));

      const outcome = await clientFor().pushAlert(TENANT, ALERT);

      expect(outcome).toMatchObject({ kind: 'retry', status: 301, error: expect.stringContaining('https://eu8-cloud.acronis.com') });
      expect(api.alerts).toHaveLength(1);
    });
  });

  describe('rejected answers', () => {
    it.each([
      [400, { error: 'validation_error', message: 'details.title must be a string' }],
      [403, { error: 'forbidden', message: 'Tenant is not accessible' }],
      [404, { error: 'not_found', message: 'Tenant not found' }],
    ])('rejects a %i with the status and the response body', async (status, body) => {
      api.enqueue('alerts', replies.json(status, body));

      const outcome = await clientFor().pushAlert(TENANT, ALERT);

      expect(outcome).toEqual({ kind: 'reject', status, error: `HTTP ${status}: ${JSON.stringify(body)}` });
    });

    it('keeps at most 1 KB of a long error body', async () => {
      api.enqueue('workloads', replies.status(422, 'é'.repeat(5000)));

      const outcome = await clientFor().pushWorkload(TENANT, WORKLOAD);

      expect(outcome).toMatchObject({ kind: 'reject', status: 422 });
      const { error } = outcome as Extract<PushOutcome, { kind: 'reject' }>;
      const excerpt = error.slice('HTTP 422: '.length);
      expect(Buffer.byteLength(excerpt)).toBeLessThanOrEqual(1024);
      expect(excerpt).toMatch(/^(é)+…$/);
    });
  });

  describe('sent answers', () => {
    it('returns the alert id the API created', async () => {
      const outcome = await clientFor().pushAlert(TENANT, ALERT);

      expect(outcome).toEqual({ kind: 'sent', status: 200, remoteId: api.alerts[0].remoteId });
      expect(api.alerts[0].remoteId).toMatch(UUID);
    });

    it('counts a 2xx alert answer it cannot read as sent, without a remote id', async () => {
      api.enqueue('alerts', replies.html(200));

      expect(await clientFor().pushAlert(TENANT, ALERT)).toEqual({ kind: 'sent', status: 200, remoteId: null });
    });

    it('counts a workload 204 as sent', async () => {
      expect(await clientFor().pushWorkload(TENANT, WORKLOAD)).toEqual({ kind: 'sent', status: 204, remoteId: null });
    });
  });

  describe('request shapes (docs/protocols.md)', () => {
    it('asks for a token with Basic client credentials and a client_credentials form', async () => {
      await clientFor().pushAlert(TENANT, ALERT);

      const [token] = api.tokenRequests;
      expect(token.method).toBe('POST');
      expect(token.url).toBe('/bc/idp/token');
      expect(token.headers['user-agent']).toBe('ACP 1.0/Vendor Connector');
      expect(token.headers.authorization).toBe(`Basic ${Buffer.from('fake-client-id:fake-client-secret').toString('base64')}`);
      expect(token.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(token.rawBody).toBe('grant_type=client_credentials');
    });

    it('posts an alert with the tenant in tenantID and the bearer token', async () => {
      await clientFor().pushAlert(TENANT, ALERT);

      const [alert] = api.alerts;
      expect(alert.method).toBe('POST');
      expect(alert.url).toBe('/api/alert_manager/v1/alerts');
      expect(alert.headers['user-agent']).toBe('ACP 1.0/Vendor Connector');
      expect(alert.headers.authorization).toBe(`Bearer ${api.issuedTokens[0]}`);
      expect(alert.headers['content-type']).toBe('application/json');
      expect(alert.rawBody).toBe(
        '{"type":"cti.a.p.am.alert.v1.0~a.p.basic.v1.0~vendor.app.malware_detected.v1.0",' +
          '"category":"cti.a.p.am.category.v1.0~vendor.app.protection.v1.0",' +
          '"details":{"title":"Malware Quarantined","category":"Malware Detected",' +
          '"description":"Malicious file \\"trojan.exe\\" was put into quarantine.",' +
          '"fields":{"Malware type":"Trojan","Device ID":"device-42","Full path":"C:\\\\Users\\\\john\\\\Downloads\\\\trojan.exe"}},' +
          `"tenantID":"${TENANT}"}`,
      );
    });

    it('writes an alert in the same field order whatever order the stored body had', async () => {
      const shuffled: AlertBody = {
        details: { fields: { a: 'b' }, description: 'd', category: 'c', title: 't' },
        ResourceName: 'vm-web-01',
        category: 'cat',
        ResourceID: 'res-1',
        type: 'typ',
      };

      await clientFor().pushAlert(TENANT, shuffled);

      expect(api.alerts[0].rawBody).toBe(
        `{"type":"typ","category":"cat","details":{"title":"t","category":"c","description":"d","fields":{"a":"b"}},"ResourceID":"res-1","ResourceName":"vm-web-01","tenantID":"${TENANT}"}`,
      );
    });

    it('posts a workload as items[0] with the API client id and the tenant', async () => {
      await clientFor().pushWorkload(TENANT, WORKLOAD);

      const [workload] = api.workloads;
      expect(workload.method).toBe('POST');
      expect(workload.url).toBe('/api/workload_management/v5/workloads');
      expect(workload.headers['user-agent']).toBe('ACP 1.0/Vendor Connector');
      expect(workload.headers.authorization).toBe(`Bearer ${api.issuedTokens[0]}`);
      expect(workload.headers['content-type']).toBe('application/json');
      expect(workload.rawBody).toBe(
        '{"items":[{"type":"cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.virtual_machine.v1.0","name":"vm-web-01",' +
          `"attributes":{},"client_id":"fake-client-id","allowed_actions":[],"tenant_id":"${TENANT}","enabled":true}]}`,
      );
    });
  });

  describe('configuration', () => {
    it('is enabled when credentials are configured', () => {
      expect(clientFor().enabled).toBe(true);
    });

    it('is disabled without credentials, and refuses to push', async () => {
      const client = new AcronisClient({ credentials: null, requestTimeoutMs: 1000 });
      clients.push(client);

      expect(client.enabled).toBe(false);
      await expect(client.pushAlert(TENANT, ALERT)).rejects.toThrow(/connector is disabled/);
      await expect(client.pushWorkload(TENANT, WORKLOAD)).rejects.toThrow(/ACRONIS_CLIENT_ID/);
      expect(api.tokenRequests).toHaveLength(0);
    });
  });
});

/** A port nothing listens on (bound, then released). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

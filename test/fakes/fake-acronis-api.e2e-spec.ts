import { randomUUID } from 'node:crypto';
import { FakeAcronisApi, FakeTarget, replies, startFakeAcronisApi } from './fake-acronis-api';

/** The fake's own contract, over plain HTTP: what the connector's client will be written against. */

const WORKLOADS = '/api/workload_management/v5/workloads';
const ALERTS = '/api/alert_manager/v1/alerts';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const TENANT_A = '6a5c2a0e-7c83-4b8f-9d2e-0f7b8e1c3d4a';
const TENANT_B = '0d9e7a61-34f2-4c1b-8a5e-9b2c4d6f8a10';
const TENANT_C = 'c3b1f0e2-5d4a-4e6f-9a8b-7c6d5e4f3a2b';
const VM = 'cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.virtual_machine.v1.0';
const PC = 'cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.workstation.v1.0';

interface Answer {
  status: number;
  text: string;
  /** The parsed body, untyped like a supertest body; undefined when empty or not JSON. */
  json: ReturnType<typeof JSON.parse>;
}

interface SendOptions {
  /** JSON-encoded unless a string. */
  body?: unknown;
  /** Default: the test's token; null for none. */
  token?: string | null;
  target?: FakeAcronisApi;
  timeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function tokenFrom(target: FakeAcronisApi, secret = target.clientSecret): Promise<Answer> {
  const response = await fetch(`${target.url}/bc/idp/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${target.clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const text = await response.text();
  return { status: response.status, text, json: JSON.parse(text) };
}

describe('fake Acronis API', () => {
  let api: FakeAcronisApi;
  let token: string;

  async function send(method: string, path: string, options: SendOptions = {}): Promise<Answer> {
    const target = options.target ?? api;
    const headers: Record<string, string> = {};
    const bearer = options.token === undefined ? token : options.token;
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    }
    const response = await fetch(`${target.url}${path}`, { method, headers, body, signal: AbortSignal.timeout(options.timeoutMs ?? 5000) });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json };
  }

  function item(tenant: string, type: string, name: string, attributes: Record<string, unknown> = {}): Record<string, unknown> {
    return { type, name, attributes, client_id: api.clientId, allowed_actions: [], tenant_id: tenant, enabled: true };
  }

  const postWorkloads = (...items: Array<Record<string, unknown>>): Promise<Answer> => send('POST', WORKLOADS, { body: { items } });

  function alert(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      type: 'cti.a.p.am.alert.v1.0~a.p.basic.v1.0~vendor.app.malware_detected.v1.0',
      category: 'cti.a.p.am.category.v1.0~vendor.app.protection.v1.0',
      details: { title: 'Malware Quarantined', category: 'Malware Detected', description: 'trojan.exe was put into quarantine.' },
      tenantID: TENANT_A,
      ...overrides,
    };
  }

  /** A workload on the platform, put there directly. */
  const seedWorkload = (tenant = TENANT_A, type = VM, name = 'vm-web-01'): string => api.store.addWorkload({ type, name, tenant_id: tenant }).id;

  beforeAll(async () => {
    api = await startFakeAcronisApi();
  });

  afterAll(() => api.close());

  beforeEach(async () => {
    api.reset();
    token = (await tokenFrom(api)).json.access_token;
  });

  describe('tokens', () => {
    it('issues a bearer token for the client credentials and refuses other credentials', async () => {
      const good = await tokenFrom(api);
      expect(good.status).toBe(200);
      expect(good.json).toEqual({ access_token: expect.any(String), expires_on: expect.any(Number), id_token: expect.any(String), token_type: 'bearer' });

      expect((await tokenFrom(api, 'wrong-secret')).status).toBe(401);
    });

    it('answers 401 to every API call without a live token, and changes nothing', async () => {
      const workloadId = seedWorkload();
      const alertId = api.store.addAlert({ type: 'cti.a', tenantID: TENANT_A }).id;
      const calls: Array<[string, string, unknown?]> = [
        ['POST', WORKLOADS, { items: [item(TENANT_A, VM, 'vm-2')] }],
        ['GET', WORKLOADS],
        ['PATCH', `${WORKLOADS}/${workloadId}`, { name: 'renamed' }],
        ['DELETE', `${WORKLOADS}?workload_id=${workloadId}`],
        ['POST', ALERTS, alert()],
        ['GET', ALERTS],
        ['GET', `${ALERTS}/${alertId}`],
        ['DELETE', `${ALERTS}/${alertId}`],
        ['DELETE', `${ALERTS}?id=${alertId}`],
      ];
      const before = [api.store.workloads(), api.store.alerts()];

      for (const bearer of [null, 'not-a-token']) {
        for (const [method, path, body] of calls) expect([method, path, (await send(method, path, { body, token: bearer })).status]).toEqual([method, path, 401]);
      }
      api.expireTokens();
      for (const [method, path, body] of calls) expect([method, path, (await send(method, path, { body })).status]).toEqual([method, path, 401]);

      expect([api.store.workloads(), api.store.alerts()]).toEqual(before);
    });

    it('refuses a token issued by another instance (another data center)', async () => {
      const other = await startFakeAcronisApi();
      try {
        const otherToken = (await tokenFrom(other)).json.access_token;

        expect((await send('GET', WORKLOADS, { token: otherToken })).status).toBe(401);
        expect((await send('GET', WORKLOADS, { token, target: other })).status).toBe(401);
        expect((await send('GET', WORKLOADS, { token: otherToken, target: other })).status).toBe(200);
      } finally {
        await other.close();
      }
    });
  });

  describe('Workload Management v5', () => {
    it('creates one workload per posted item, with a new id and timestamps, and answers 204 without a body', async () => {
      const answer = await postWorkloads(item(TENANT_A, VM, 'vm-1', { marker: 'm1' }), { ...item(TENANT_B, PC, 'pc-1'), enabled: false, allowed_actions: ['reboot'] });

      expect(answer).toEqual({ status: 204, text: '', json: undefined });
      const stored = api.store.workloads();
      expect(stored).toEqual([
        {
          id: expect.stringMatching(UUID),
          type: VM,
          name: 'vm-1',
          tenant_id: TENANT_A,
          client_id: api.clientId,
          enabled: true,
          allowed_actions: [],
          attributes: { marker: 'm1' },
          created_at: expect.stringMatching(RFC3339),
          updated_at: expect.stringMatching(RFC3339),
        },
        expect.objectContaining({ type: PC, name: 'pc-1', tenant_id: TENANT_B, enabled: false, allowed_actions: ['reboot'] }),
      ]);
      expect(stored[0].id).not.toBe(stored[1].id);
      expect(stored[0].updated_at).toBe(stored[0].created_at);
      expect(api.workloads).toHaveLength(1);
      expect(api.created.workloads).toHaveLength(1);
      expect(api.workloadsIn(TENANT_B).map((w) => w.name)).toEqual(['pc-1']);
    });

    it.each([
      ['attributes not an object', { attributes: ['a'] }],
      ['allowed_actions not strings', { allowed_actions: [1] }],
      ['enabled not a boolean', { enabled: 'yes' }],
      ['another client id', { client_id: 'someone-else' }],
      ['no name', { name: undefined }],
    ])('refuses a workload item with %s (400) and creates nothing', async (_case, change) => {
      const answer = await postWorkloads(item(TENANT_A, VM, 'vm-1'), { ...item(TENANT_A, VM, 'vm-2'), ...change });

      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({ error: 'validation_error', message: expect.any(String) });
      expect(api.store.workloads()).toEqual([]);
    });

    it('pages through 250 workloads 100 at a time, in creation order, the cursor absent on the last page', async () => {
      const names = Array.from({ length: 250 }, (_, i) => `vm-${String(i).padStart(3, '0')}`);
      for (let i = 0; i < names.length; i += 50) expect((await postWorkloads(...names.slice(i, i + 50).map((name) => item(TENANT_A, VM, name)))).status).toBe(204);

      const pages: Answer[] = [];
      let after: string | undefined;
      do {
        const page = await send('GET', `${WORKLOADS}?tenant_id=${TENANT_A}&limit=100${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`);
        expect(page.status).toBe(200);
        pages.push(page);
        after = page.json.paging.cursors.after;
      } while (after !== undefined && pages.length < 10);

      expect(pages.map((page) => page.json.items.length)).toEqual([100, 100, 50]);
      expect(pages.map((page) => typeof page.json.paging.cursors.after)).toEqual(['string', 'string', 'undefined']);
      expect(pages[2].json.paging).toEqual({ cursors: {} });
      const items = pages.flatMap((page) => page.json.items);
      expect(items.map((w) => w.name)).toEqual(names);
      expect(new Set(items.map((w) => w.id)).size).toBe(250);
      expect(items.map((w) => w.id)).toEqual(api.store.workloads().map((w) => w.id));
    });

    it('gives no cursor when the last page is exactly full', async () => {
      for (let i = 0; i < 4; i++) seedWorkload(TENANT_A, VM, `vm-${i}`);

      const first = await send('GET', `${WORKLOADS}?limit=2`);
      const second = await send('GET', `${WORKLOADS}?limit=2&after=${first.json.paging.cursors.after}`);

      expect(second.json.items.map((w: { name: string }) => w.name)).toEqual(['vm-2', 'vm-3']);
      expect(second.json.paging).toEqual({ cursors: {} });
    });

    it('continues after a cursor whose last item has since been deleted', async () => {
      const ids = [0, 1, 2, 3].map((i) => seedWorkload(TENANT_A, VM, `vm-${i}`));
      const first = await send('GET', `${WORKLOADS}?limit=2`);

      expect((await send('DELETE', `${WORKLOADS}?workload_id=${ids[1]}`)).status).toBe(204);
      const second = await send('GET', `${WORKLOADS}?limit=2&after=${first.json.paging.cursors.after}`);

      expect(second.json.items.map((w: { name: string }) => w.name)).toEqual(['vm-2', 'vm-3']);
    });

    it('lists 100 by default, with attributes only when include_all_attributes=true', async () => {
      for (let i = 0; i < 101; i++) api.store.addWorkload({ type: VM, name: `vm-${i}`, tenant_id: TENANT_A, attributes: { n: i } });

      const plain = await send('GET', WORKLOADS);
      const full = await send('GET', `${WORKLOADS}?include_all_attributes=true&limit=1`);
      const explicitFalse = await send('GET', `${WORKLOADS}?include_all_attributes=false&limit=1`);

      expect(plain.json.items).toHaveLength(100);
      expect(plain.json.paging.cursors.after).toEqual(expect.any(String));
      expect(Object.keys(plain.json.items[0]).sort()).toEqual(
        ['allowed_actions', 'client_id', 'created_at', 'enabled', 'id', 'name', 'tenant_id', 'type', 'updated_at'].sort(),
      );
      expect(full.json.items).toEqual([{ ...api.store.workloads()[0], attributes: { n: 0 } }]);
      expect(explicitFalse.json.items[0].attributes).toBeUndefined();
    });

    it('filters by tenant_id (one or or()), type and workload_id, all together', async () => {
      const a1 = seedWorkload(TENANT_A, VM, 'a-vm');
      const a2 = seedWorkload(TENANT_A, PC, 'a-pc');
      const b1 = seedWorkload(TENANT_B, VM, 'b-vm');
      seedWorkload(TENANT_C, VM, 'c-vm');
      const names = async (query: string): Promise<string[]> => {
        const answer = await send('GET', `${WORKLOADS}?${query}`);
        expect(answer.status).toBe(200);
        return answer.json.items.map((w: { name: string }) => w.name);
      };

      expect(await names(`tenant_id=${TENANT_A}`)).toEqual(['a-vm', 'a-pc']);
      expect(await names(`tenant_id=or(${TENANT_A},${TENANT_B})`)).toEqual(['a-vm', 'a-pc', 'b-vm']);
      expect(await names(`tenant_id=${encodeURIComponent(`or(${TENANT_B},${TENANT_C})`)}`)).toEqual(['b-vm', 'c-vm']);
      expect(await names(`type=${PC}`)).toEqual(['a-pc']);
      expect(await names(`type=or(${PC},${VM})&tenant_id=${TENANT_B}`)).toEqual(['b-vm']);
      expect(await names(`workload_id=${a2}`)).toEqual(['a-pc']);
      expect(await names(`workload_id=or(${a1},${b1},${randomUUID()})&type=${VM}`)).toEqual(['a-vm', 'b-vm']);
      expect(await names(`tenant_id=${randomUUID()}`)).toEqual([]);
    });

    const manyIds = (n: number): string => `or(${Array.from({ length: n }, () => randomUUID()).join(',')})`;
    it.each([
      ['limit=0', 'limit=0'],
      ['limit over 1000', 'limit=1001'],
      ['limit not a number', 'limit=ten'],
      ['limit a fraction', 'limit=1.5'],
      ['101 tenant ids', `tenant_id=${manyIds(101)}`],
      ['11 types', `type=or(${Array.from({ length: 11 }, (_, i) => `t${i}`).join(',')})`],
      ['101 workload ids', `workload_id=${manyIds(101)}`],
      ['or( unclosed', `tenant_id=or(${TENANT_A}`],
      ['or() empty', 'tenant_id=or()'],
      ['an empty value inside or()', `tenant_id=or(${TENANT_A},,${TENANT_B})`],
      ['a space inside or()', `tenant_id=or(${TENANT_A},%20${TENANT_B})`],
      ['an empty filter', 'tenant_id='],
      ['a repeated filter', `tenant_id=${TENANT_A}&tenant_id=${TENANT_B}`],
      ['include_all_attributes=yes', 'include_all_attributes=yes'],
      ['a cursor that is not one', 'after=bm90LWEtY3Vyc29y'],
      ['an unsupported parameter', 'search=name%20%3D%20%27x%27'],
    ])('answers 400 to a GET with %s', async (_case, query) => {
      const answer = await send('GET', `${WORKLOADS}?${query}`);

      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({ error: 'validation_error', message: expect.any(String) });
    });

    it('refuses a cursor with other filters than its query, or from another instance', async () => {
      for (let i = 0; i < 3; i++) seedWorkload(TENANT_A, VM, `vm-${i}`);
      const { after } = (await send('GET', `${WORKLOADS}?tenant_id=${TENANT_A}&limit=1`)).json.paging.cursors;
      const other = await startFakeAcronisApi();
      try {
        const otherToken = (await tokenFrom(other)).json.access_token;

        expect((await send('GET', `${WORKLOADS}?limit=1&after=${after}`)).status).toBe(400);
        expect((await send('GET', `${WORKLOADS}?tenant_id=${TENANT_B}&limit=1&after=${after}`)).status).toBe(400);
        expect((await send('GET', `${WORKLOADS}?tenant_id=${TENANT_A}&limit=1&after=${after}`, { target: other, token: otherToken })).status).toBe(400);
        // Same filters in another spelling, and another limit: fine.
        expect((await send('GET', `${WORKLOADS}?tenant_id=or(${TENANT_A})&limit=5&after=${after}`)).json.items).toHaveLength(2);
      } finally {
        await other.close();
      }
    });

    it('updates the given fields of a workload (PATCH 204), replacing attributes, and moves updated_at', async () => {
      const id = api.store.addWorkload({ type: VM, name: 'vm-1', tenant_id: TENANT_A, attributes: { a: 1, b: 2 } }).id;
      const before = api.store.workload(id);
      await sleep(5);

      const answer = await send('PATCH', `${WORKLOADS}/${id}`, {
        body: { name: 'vm-1 renamed', attributes: { b: 3 }, client_id: api.clientId, allowed_actions: ['reboot'], enabled: false },
      });

      expect(answer).toEqual({ status: 204, text: '', json: undefined });
      const after = api.store.workload(id);
      expect(after).toEqual({
        ...before,
        name: 'vm-1 renamed',
        attributes: { b: 3 },
        allowed_actions: ['reboot'],
        enabled: false,
        updated_at: expect.stringMatching(RFC3339),
      });
      expect(after!.updated_at > before!.updated_at).toBe(true);

      expect((await send('PATCH', `${WORKLOADS}/${id}`, { body: { enabled: true } })).status).toBe(204);
      expect(api.store.workload(id)).toEqual(expect.objectContaining({ name: 'vm-1 renamed', attributes: { b: 3 }, enabled: true }));
    });

    it('answers 404 to a PATCH of a workload that does not exist', async () => {
      const deleted = seedWorkload();
      await send('DELETE', `${WORKLOADS}?workload_id=${deleted}`);

      for (const id of [randomUUID(), deleted, 'not-a-uuid']) {
        const answer = await send('PATCH', `${WORKLOADS}/${id}`, { body: { name: 'x' } });
        expect(answer.status).toBe(404);
        expect(answer.json).toEqual({ error: 'not_found', message: 'Workload was not found.' });
      }
    });

    it.each([
      ['an array', '[]'],
      ['a string', '"vm"'],
      ['null', 'null'],
      ['not JSON', '{"name":'],
      ['a numeric name', { name: 1 }],
      ['attributes as an array', { attributes: [] }],
      ['enabled as a string', { enabled: 'false' }],
      ['allowed_actions of numbers', { allowed_actions: [1] }],
      ['another client id', { client_id: 'someone-else' }],
      ['a field that cannot change', { tenant_id: TENANT_B }],
    ])('refuses a PATCH body that is %s (400) and changes nothing', async (_case, body) => {
      const id = seedWorkload();
      const before = api.store.workloads();

      const answer = await send('PATCH', `${WORKLOADS}/${id}`, { body });

      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({ error: 'validation_error', message: expect.any(String) });
      expect(api.store.workloads()).toEqual(before);
    });

    it('deletes the workloads named by workload_id, one or or(), ignoring unknown ids (204)', async () => {
      const [w1, w2, w3, w4] = ['w1', 'w2', 'w3', 'w4'].map((name) => seedWorkload(TENANT_A, VM, name));

      expect(await send('DELETE', `${WORKLOADS}?workload_id=${w2}`)).toEqual({ status: 204, text: '', json: undefined });
      expect((await send('DELETE', `${WORKLOADS}?workload_id=or(${w1},${w4},${randomUUID()})`)).status).toBe(204);
      expect((await send('DELETE', `${WORKLOADS}?workload_id=${randomUUID()}`)).status).toBe(204);

      expect(api.store.workloads().map((w) => w.id)).toEqual([w3]);
      expect(api.violations).toEqual([]);
    });

    it('refuses a DELETE of more than 100 ids (400) and deletes nothing', async () => {
      const ids = Array.from({ length: 101 }, (_, i) => seedWorkload(TENANT_A, VM, `vm-${i}`));

      expect((await send('DELETE', `${WORKLOADS}?workload_id=or(${ids.join(',')})`)).status).toBe(400);
      expect(api.store.workloads()).toHaveLength(101);
      expect(api.violations).toEqual([]);
    });

    it('records a DELETE without a workload_id filter as a violation, answers 400 and deletes nothing', async () => {
      seedWorkload();

      expect((await send('DELETE', WORKLOADS)).status).toBe(400);
      expect((await send('DELETE', `${WORKLOADS}?tenant_id=${TENANT_A}`)).status).toBe(400);
      expect((await send('DELETE', `${WORKLOADS}?workload_id=`)).status).toBe(400);

      expect(api.store.workloads()).toHaveLength(1);
      expect(api.violations).toEqual([
        { description: expect.stringContaining('without a workload_id filter'), method: 'DELETE', url: WORKLOADS, receivedAt: expect.any(Number) },
        expect.objectContaining({ url: `${WORKLOADS}?tenant_id=${TENANT_A}` }),
        expect.objectContaining({ url: `${WORKLOADS}?workload_id=` }),
      ]);
    });
  });

  describe('Alert Manager v1', () => {
    it('creates an alert with the id the client chose, and answers 409 to the same id again, changing nothing', async () => {
      const id = randomUUID();

      const first = await send('POST', ALERTS, { body: alert({ id, _source: 'vendor-app', _sourceTimeStamp: 42, severity: 'critical' }) });
      const again = await send('POST', ALERTS, { body: alert({ id: id.toUpperCase(), details: { title: 'Other' } }) });

      expect(first).toEqual({ status: 200, text: JSON.stringify({ id }), json: { id } });
      expect(again.status).toBe(409);
      expect(again.json).toEqual({ error: 'conflict', message: 'Alert already exists.' });
      expect(api.store.alerts()).toEqual([
        {
          id,
          type: alert().type,
          category: alert().category,
          severity: 'critical',
          details: alert().details,
          tenantID: TENANT_A,
          _source: 'vendor-app',
          _sourceTimeStamp: 42,
          createdAt: expect.stringMatching(RFC3339),
          receivedAt: expect.stringMatching(RFC3339),
          updatedAt: expect.stringMatching(RFC3339),
          deletedAt: null,
          body: alert({ id, _source: 'vendor-app', _sourceTimeStamp: 42, severity: 'critical' }),
        },
      ]);
      expect(api.alerts.map((push) => [push.status, push.remoteId])).toEqual([
        [200, id],
        [409, null],
      ]);
      expect(api.created.alerts).toHaveLength(1);
    });

    it('answers 409 to the id of an alert already dismissed', async () => {
      const { id } = api.store.addAlert({ type: 't', tenantID: TENANT_A, deletedAt: new Date().toISOString() });

      expect((await send('POST', ALERTS, { body: alert({ id }) })).status).toBe(409);
    });

    it('picks an id when the client gives none', async () => {
      const answer = await send('POST', ALERTS, { body: alert() });

      expect(answer.status).toBe(200);
      expect(answer.json.id).toMatch(UUID);
      expect(api.alerts[0].remoteId).toBe(answer.json.id);
      expect(api.store.alert(answer.json.id)).toEqual(expect.objectContaining({ severity: 'warning', _source: null, _sourceTimeStamp: null }));
      expect(api.alertsIn(TENANT_A)).toHaveLength(1);
    });

    it.each([
      ['an id that is not a UUID', { id: 'alert-1' }],
      ['a numeric id', { id: 42 }],
      ['a fractional _sourceTimeStamp', { _sourceTimeStamp: 1.5 }],
      ['a string _sourceTimeStamp', { _sourceTimeStamp: '7' }],
      ['a numeric _source', { _source: 3 }],
      ['an unknown severity', { severity: 'fatal' }],
      ['no details.title', { details: {} }],
    ])('refuses an alert with %s (400) and creates nothing', async (_case, change) => {
      const answer = await send('POST', ALERTS, { body: alert(change) });

      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({ error: 'validation_error', message: expect.any(String) });
      expect(api.store.alerts()).toEqual([]);
    });

    it('gives an alert by id (case-insensitive) in the alert view', async () => {
      const id = randomUUID();
      await send('POST', ALERTS, { body: alert({ id, _source: 'vendor-app', _sourceTimeStamp: 7, severity: 'error' }) });
      const stored = api.store.alert(id)!;

      for (const asked of [id, id.toUpperCase()]) {
        const answer = await send('GET', `${ALERTS}/${asked}`);
        expect(answer.status).toBe(200);
        expect(answer.json).toEqual({
          id,
          type: stored.type,
          category: stored.category,
          severity: 'error',
          details: stored.details,
          _source: 'vendor-app',
          _sourceTimeStamp: 7,
          tenant: { id: TENANT_A },
          createdAt: stored.createdAt,
          receivedAt: stored.receivedAt,
          updatedAt: stored.updatedAt,
        });
      }
    });

    it('answers 404 to an unknown alert id and 400 to one that is not a UUID', async () => {
      const unknown = await send('GET', `${ALERTS}/${randomUUID()}`);
      const malformed = await send('GET', `${ALERTS}/not-a-uuid`);

      expect(unknown.status).toBe(404);
      expect(unknown.json).toEqual({ message: 'Alert was not found.' });
      expect(malformed.status).toBe(400);
      expect((await send('DELETE', `${ALERTS}/not-a-uuid`)).status).toBe(400);
    });

    it('dismisses an alert by id: 204, then 404 to lookups without show_deleted=true and to a second dismissal', async () => {
      const { id } = api.store.addAlert({ type: 't', tenantID: TENANT_A });

      expect(await send('DELETE', `${ALERTS}/${id}`)).toEqual({ status: 204, text: '', json: undefined });

      const stored = api.store.alert(id)!;
      expect(stored.deletedAt).toMatch(RFC3339);
      expect(stored.updatedAt).toBe(stored.deletedAt);
      expect((await send('GET', `${ALERTS}/${id}`)).status).toBe(404);
      expect((await send('GET', `${ALERTS}/${id}?show_deleted=false`)).status).toBe(404);
      const shown = await send('GET', `${ALERTS}/${id}?show_deleted=true`);
      expect(shown.status).toBe(200);
      expect(shown.json.deletedAt).toBe(stored.deletedAt);
      expect((await send('DELETE', `${ALERTS}/${id}`)).status).toBe(404);
      expect((await send('DELETE', `${ALERTS}/${randomUUID()}`)).json).toEqual({ message: 'Alert was not found.' });
    });

    it('dismisses the alerts named by id filters on the collection (204), ignoring unknown ones', async () => {
      const [a, b, c] = [1, 2, 3].map(() => api.store.addAlert({ type: 't', tenantID: TENANT_A }).id);

      expect((await send('DELETE', `${ALERTS}?id=${a}&id=${b.toUpperCase()}&id=${randomUUID()}`)).status).toBe(204);
      expect((await send('DELETE', `${ALERTS}?id=${a}`)).status).toBe(204);

      expect(api.store.alerts().map((x) => [x.id, x.deletedAt !== null])).toEqual([
        [a, true],
        [b, true],
        [c, false],
      ]);
      expect(api.violations).toEqual([]);
    });

    it('records a DELETE of the alert collection without an id filter as a violation, answers 400 and dismisses nothing', async () => {
      api.store.addAlert({ type: 't', tenantID: TENANT_A });

      expect((await send('DELETE', ALERTS)).status).toBe(400);
      expect((await send('DELETE', `${ALERTS}?tenant=${TENANT_A}`)).status).toBe(400);

      expect(api.store.alerts()[0].deletedAt).toBeNull();
      expect(api.violations).toEqual([
        { description: expect.stringContaining('without any filter'), method: 'DELETE', url: ALERTS, receivedAt: expect.any(Number) },
        { description: expect.stringContaining('without an id filter'), method: 'DELETE', url: `${ALERTS}?tenant=${TENANT_A}`, receivedAt: expect.any(Number) },
      ]);
    });

    it('queries the collection by id, tenant, source and show_deleted, up to limit', async () => {
      const a1 = api.store.addAlert({ type: 't', tenantID: TENANT_A, _source: 'us' }).id;
      const a2 = api.store.addAlert({ type: 't', tenantID: TENANT_A, deletedAt: new Date().toISOString() }).id;
      const b1 = api.store.addAlert({ type: 't', tenantID: TENANT_B, _source: 'us' }).id;
      const ids = async (query: string): Promise<string[]> => {
        const answer = await send('GET', `${ALERTS}?${query}`);
        expect(answer.status).toBe(200);
        expect(answer.json.paging).toEqual({ cursors: {} });
        return answer.json.items.map((x: { id: string }) => x.id);
      };

      expect(await ids('')).toEqual([a1, b1]);
      expect(await ids('show_deleted=true')).toEqual([a1, a2, b1]);
      expect(await ids('show_deleted_only=true')).toEqual([a2]);
      expect(await ids(`tenant=${TENANT_A}&show_deleted=true`)).toEqual([a1, a2]);
      expect(await ids(`tenant=or(${TENANT_A},${TENANT_B})&source=us`)).toEqual([a1, b1]);
      expect(await ids(`id=${b1}&id=${a2}&show_deleted=true`)).toEqual([a2, b1]);
      expect(await ids('limit=1')).toEqual([a1]);
      expect((await send('GET', `${ALERTS}?order=desc(created_at)`)).status).toBe(400);
    });
  });

  describe('scripted replies', () => {
    it('applies a reply queued for a target to the next request of that target only', async () => {
      api.enqueue('workload-lookups', replies.serverError(503));
      api.enqueue('pushes', replies.rateLimited(1));

      expect((await send('GET', WORKLOADS)).status).toBe(503);
      expect((await send('GET', WORKLOADS)).status).toBe(200);
      expect((await send('GET', `${ALERTS}/${randomUUID()}`)).status).toBe(404);
      expect((await postWorkloads(item(TENANT_A, VM, 'vm-1'))).status).toBe(429);
      expect(api.store.workloads()).toEqual([]);
    });

    it.each<[FakeTarget, string, (ids: { workload: string; alert: string }) => [string, string, unknown?]]>([
      ['workload-lookups', 'GET /workloads', () => ['GET', WORKLOADS]],
      ['workload-updates', 'PATCH /workloads/{id}', ({ workload }) => ['PATCH', `${WORKLOADS}/${workload}`, { name: 'x' }]],
      ['workload-deletes', 'DELETE /workloads', ({ workload }) => ['DELETE', `${WORKLOADS}?workload_id=${workload}`]],
      ['alert-lookups', 'GET /alerts/{id}', ({ alert: id }) => ['GET', `${ALERTS}/${id}`]],
      ['alert-queries', 'GET /alerts', () => ['GET', ALERTS]],
      ['alert-dismissals', 'DELETE /alerts/{id}', ({ alert: id }) => ['DELETE', `${ALERTS}/${id}`]],
      ['alert-dismissals', 'DELETE /alerts?id=', ({ alert: id }) => ['DELETE', `${ALERTS}?id=${id}`]],
    ])('scripts %s (%s): the status is answered and nothing changes', async (target, _route, call) => {
      const ids = { workload: seedWorkload(), alert: api.store.addAlert({ type: 't', tenantID: TENANT_A }).id };
      const before = [api.store.workloads(), api.store.alerts()];
      api.enqueue(target, replies.json(503, { error: 'unavailable' }));
      const [method, path, body] = call(ids);

      expect((await send(method, path, { body })).status).toBe(503);
      expect([api.store.workloads(), api.store.alerts()]).toEqual(before);
      expect((await send(method, path, { body })).status).toBeLessThan(300);
    });

    it('hangs or resets the next request of a target, changing nothing', async () => {
      const id = seedWorkload();
      api.enqueue('alert-lookups', replies.hang());
      api.enqueue('workload-deletes', replies.reset());

      await expect(send('GET', `${ALERTS}/${randomUUID()}`, { timeoutMs: 300 })).rejects.toThrow();
      await expect(send('DELETE', `${WORKLOADS}?workload_id=${id}`)).rejects.toThrow();

      expect(api.store.workloads()).toHaveLength(1);
      expect(api.requestsTo('workload-delete').map((r) => r.status)).toEqual([null]);
    });

    it('replies.applied: the change is made, the answer is replaced', async () => {
      const id = randomUUID();
      const workload = seedWorkload();
      api.enqueue('alerts', replies.applied(replies.reset()));
      api.enqueue('workload-updates', replies.applied(replies.serverError(502)));

      await expect(send('POST', ALERTS, { body: alert({ id }) })).rejects.toThrow();
      expect((await send('PATCH', `${WORKLOADS}/${workload}`, { body: { name: 'renamed' } })).status).toBe(502);

      expect(api.store.alert(id)).toBeDefined();
      expect(api.alerts[0].remoteId).toBe(id);
      expect(api.created.alerts).toEqual([]);
      expect((await send('POST', ALERTS, { body: alert({ id }) })).status).toBe(409);
      expect((await send('GET', `${ALERTS}/${id}`)).status).toBe(200);
      expect(api.store.workload(workload)?.name).toBe('renamed');
    });

    it('delays every API answer by serviceTimeMs', async () => {
      api.setBehaviour({ serviceTimeMs: 200 });
      const id = seedWorkload();

      for (const [method, path] of [
        ['GET', WORKLOADS],
        ['DELETE', `${WORKLOADS}?workload_id=${id}`],
        ['GET', `${ALERTS}/${randomUUID()}`],
      ]) {
        const started = performance.now();
        await send(method, path);
        expect(performance.now() - started).toBeGreaterThanOrEqual(190);
      }
    });
  });

  describe('logs and reset', () => {
    it('logs every request with its operation, method, path, query and status', async () => {
      await send('GET', `${WORKLOADS}?tenant_id=or(${TENANT_A},${TENANT_B})&limit=5`);
      await send('PATCH', `${WORKLOADS}/${randomUUID()}`, { body: { name: 'x' } });
      await send('GET', `${ALERTS}/${randomUUID()}?show_deleted=true`);
      await send('PUT', WORKLOADS);

      expect(api.requests.map((r) => [r.operation, r.method, r.path, r.query, r.status])).toEqual([
        ['token', 'POST', '/bc/idp/token', {}, 200],
        ['workload-lookup', 'GET', WORKLOADS, { tenant_id: `or(${TENANT_A},${TENANT_B})`, limit: '5' }, 200],
        ['workload-update', 'PATCH', expect.stringMatching(/^\/api\/workload_management\/v5\/workloads\/[0-9a-f-]{36}$/), {}, 404],
        ['alert-lookup', 'GET', expect.stringMatching(/^\/api\/alert_manager\/v1\/alerts\//), { show_deleted: 'true' }, 404],
        ['unknown', 'PUT', WORKLOADS, {}, 404],
      ]);
      expect(api.requestsTo('workload-update')[0]).toEqual(expect.objectContaining({ body: { name: 'x' }, token }));
      expect(api.tokenRequests).toHaveLength(1);
      expect(api.workloads).toEqual([]);
    });

    it('records repeated query parameters as arrays', async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      await send('DELETE', `${ALERTS}?id=${a}&id=${b}`);

      expect(api.requestsTo('alert-bulk-dismissal')[0].query).toEqual({ id: [a, b] });
    });

    it('reset forgets workloads, alerts, logs, violations and queued replies; issued tokens stay valid', async () => {
      seedWorkload();
      await send('POST', ALERTS, { body: alert() });
      await send('DELETE', WORKLOADS);
      api.enqueue('workload-lookups', replies.serverError());

      api.reset();

      expect(api.store.workloads()).toEqual([]);
      expect(api.store.alerts()).toEqual([]);
      expect([api.requests, api.alerts, api.violations, api.tokenRequests, api.issuedTokens]).toEqual([[], [], [], [], []]);
      expect((await send('GET', WORKLOADS)).status).toBe(200);
    });
  });
});

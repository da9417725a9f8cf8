import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { HookEndpoint } from '../../src/hooks/hook-endpoint.entity';
import { WebhookSubscription } from '../../src/webhooks/webhook-subscription.entity';
import { approve, HookServer, reject, startHookServer } from '../fakes/hook-server';
import { clearHooks } from '../factories/hooks';
import { createTree, mapOrganization, Tree } from '../factories/organizations';
import { callback, errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

type Json = Record<string, unknown>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const WHSEC = /^whsec_[A-Za-z0-9+/]{43}=$/;

describe('hooks API (/api/hooks)', () => {
  let t: TestApp;
  let tree: Tree;
  let hook: HookServer;
  let tenant: string;

  beforeAll(async () => {
    t = await createTestApp({ WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8', WEBHOOKS_WORKER_ENABLED: 'false', HOOKS_DEFAULT_TIMEOUT_MS: '2500' });
    tree = await createTree(t.dataSource);
    tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
    hook = await startHookServer();
  });
  afterEach(async () => {
    await clearHooks(t.dataSource);
    hook.received.length = 0;
    hook.answer(approve());
  });
  afterAll(async () => {
    await hook.close();
    await t.close();
  });

  const as = (who: 'partner' | 'other') => {
    const header = (): string => (who === 'partner' ? cyberAppAuth('partner', tree.password) : cyberAppAuth('other', 'other-password'));
    return {
      post: (path: string, body?: unknown) => {
        const req = request(t.server).post(`/api/hooks${path}`).set('X-CyberApp-Auth', header());
        return body === undefined ? req : req.send(body as object);
      },
      get: (path: string) => request(t.server).get(`/api/hooks${path}`).set('X-CyberApp-Auth', header()),
      patch: (path: string, body: unknown) => request(t.server).patch(`/api/hooks${path}`).set('X-CyberApp-Auth', header()).send(body as object),
      delete: (path: string) => request(t.server).delete(`/api/hooks${path}`).set('X-CyberApp-Auth', header()),
    };
  };
  const partner = as('partner');
  const other = as('other');
  const minimal = (extra: Json = {}): Json => ({ url: hook.url, ssl_verification: false, operations: ['user.create'], ...extra });

  describe('registering and managing hooks', () => {
    it('registers a hook with the defaults and answers 201 with a generated whsec_ secret', async () => {
      const res = await partner.post('', { url: 'https://127.0.0.1:8443/approve', operations: ['user.create', 'webhook.delete'] }).expect(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(UUID),
        organization_id: tree.partner.id,
        name: 'approval hook',
        url: 'https://127.0.0.1:8443/approve',
        operations: ['user.create', 'webhook.delete'],
        phase: 'both',
        timeout_ms: 2500,
        failure_policy: 'fail-closed',
        ssl_verification: true,
        enabled: true,
        disabled_reason: null,
        created_by: tree.partnerUser.id,
        created_at: expect.any(String),
        updated_at: expect.any(String),
        has_secret: true,
        previous_secret_expires_at: null,
        secret: expect.stringMatching(WHSEC),
      });
      const read = await partner.get(`/${res.body.id}`).expect(200);
      expect(read.body).not.toHaveProperty('secret');
      expect(read.body).toMatchObject({ id: res.body.id, has_secret: true });
    });

    it('lists, changes, rotates and deletes hooks', async () => {
      const a = (await partner.post('', minimal({ name: 'A', phase: 'pre' })).expect(201)).body;
      const b = (await partner.post('', minimal({ name: 'B', operations: ['user.delete'], organization_id: tree.customers[0].id })).expect(201)).body;
      const list = await partner.get('').expect(200);
      expect(list.body.total).toBe(2);
      expect(list.body.items.map((h: Json) => h.name)).toEqual(['B', 'A']);
      expect((await partner.get('?operation=user.delete').expect(200)).body.items.map((h: Json) => h.id)).toEqual([b.id]);
      expect((await partner.get(`?organization_id=${tree.customers[0].id}`).expect(200)).body.items.map((h: Json) => h.id)).toEqual([b.id]);
      expect((await partner.get('?limit=1&offset=1').expect(200)).body.items.map((h: Json) => h.id)).toEqual([a.id]);

      const changed = await partner.patch(`/${a.id}`, { operations: ['enablement.write'], timeout_ms: 900, failure_policy: 'fail-open', enabled: false }).expect(200);
      expect(changed.body).toMatchObject({ operations: ['enablement.write'], timeout_ms: 900, failure_policy: 'fail-open', enabled: false, phase: 'pre' });
      expect(await t.dataSource.getRepository(HookEndpoint).findOneByOrFail({ id: a.id })).toMatchObject({ timeoutMs: 900, operations: ['enablement.write'] });

      const before = await snapshot(t.dataSource);
      const refused = await partner.patch(`/${a.id}`, { url: 'http://192.168.1.10/hook' }).expect(400);
      expect(refused.body).toEqual(errorEnvelope('VALIDATION_FAILED'));
      expect(await snapshot(t.dataSource)).toEqual(before);

      const rotated = await partner.post(`/${a.id}/rotate-secret`).expect(200);
      expect(rotated.body.secret).toMatch(WHSEC);
      expect(rotated.body.secret).not.toBe(a.secret);
      expect(rotated.body.previous_secret_expires_at).toEqual(expect.any(String));

      await partner.delete(`/${a.id}`).expect(204);
      await partner.get(`/${a.id}`).expect(404);
      expect(await t.dataSource.getRepository(HookEndpoint).existsBy({ id: a.id })).toBe(false);
      expect(await t.dataSource.getRepository(WebhookSubscription).existsBy({ id: a.id })).toBe(false);
    });

    it('runs no hooks on changes to hooks themselves (a hook cannot lock its owner out)', async () => {
      const created = (await partner.post('', minimal({ operations: ['webhook.create', 'webhook.update', 'webhook.delete'] })).expect(201)).body;
      hook.answer(reject('never'));
      await partner.patch(`/${created.id}`, { name: 'renamed' }).expect(200);
      await partner.delete(`/${created.id}`).expect(204);
      expect(hook.received).toHaveLength(0);
    });
  });

  describe('bad input answers a precise 4xx in the error envelope and changes nothing', () => {
    const cases: Array<[string, () => request.Test, number, string]> = [
      ['no credentials', () => request(t.server).post('/api/hooks').send(minimal()), 401, 'UNAUTHENTICATED'],
      ['wrong credentials', () => request(t.server).post('/api/hooks').set('X-CyberApp-Auth', cyberAppAuth('partner', 'nope')).send(minimal()), 401, 'UNAUTHENTICATED'],
      ['malformed JSON', () => request(t.server).post('/api/hooks').set('X-CyberApp-Auth', cyberAppAuth('partner', 'partner-password')).set('content-type', 'application/json').send('{"url":'), 400, 'MALFORMED_REQUEST'],
      ['a body that is not an object', () => partner.post('', ['x']), 400, 'VALIDATION_FAILED'],
      ['no url', () => partner.post('', { operations: ['user.create'] }), 400, 'VALIDATION_FAILED'],
      ['an unknown operation', () => partner.post('', minimal({ operations: ['user.explode'] })), 400, 'VALIDATION_FAILED'],
      ['no operations', () => partner.post('', minimal({ operations: [] })), 400, 'VALIDATION_FAILED'],
      ['a repeated operation', () => partner.post('', minimal({ operations: ['user.create', 'user.create'] })), 400, 'VALIDATION_FAILED'],
      ['operations as a string', () => partner.post('', minimal({ operations: 'user.create' })), 400, 'VALIDATION_FAILED'],
      ['an unknown phase', () => partner.post('', minimal({ phase: 'during' })), 400, 'VALIDATION_FAILED'],
      ['a timeout below 100 ms', () => partner.post('', minimal({ timeout_ms: 50 })), 400, 'VALIDATION_FAILED'],
      ['a timeout above 30 s', () => partner.post('', minimal({ timeout_ms: 30_001 })), 400, 'VALIDATION_FAILED'],
      ['a timeout as a string', () => partner.post('', minimal({ timeout_ms: '500' })), 400, 'VALIDATION_FAILED'],
      ['an unknown failure policy', () => partner.post('', minimal({ failure_policy: 'fail-maybe' })), 400, 'VALIDATION_FAILED'],
      ['a null secret', () => partner.post('', minimal({ secret: null })), 400, 'VALIDATION_FAILED'],
      ['an http URL with TLS verification on', () => partner.post('', minimal({ ssl_verification: true })), 400, 'VALIDATION_FAILED'],
      ['an oversize body', () => partner.post('', minimal({ name: 'x'.repeat(2_000_000) })), 413, 'PAYLOAD_TOO_LARGE'],
      ["another organization's organization_id", () => partner.post('', minimal({ organization_id: tree.other.id })), 403, 'FORBIDDEN'],
      ['an unknown organization_id', () => partner.post('', minimal({ organization_id: randomUUID() })), 403, 'FORBIDDEN'],
      ['an unknown hook id', () => partner.patch(`/${randomUUID()}`, { name: 'x' }), 404, 'NOT_FOUND'],
      ['an empty PATCH', () => partner.patch(`/${randomUUID()}`, {}), 400, 'VALIDATION_FAILED'],
      ['a PATCH moving the hook', () => partner.patch(`/${randomUUID()}`, { organization_id: tree.partner.id }), 400, 'VALIDATION_FAILED'],
      ['an unknown decisions filter value', () => partner.get('/decisions?outcome=maybe'), 400, 'VALIDATION_FAILED'],
      ['a reversed time range', () => partner.get('/decisions?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z'), 400, 'VALIDATION_FAILED'],
      ["another organization's decisions", () => partner.get(`/decisions?organization_id=${tree.other.id}`), 403, 'FORBIDDEN'],
    ];
    it.each(cases)('%s', async (_name, send, status, code) => {
      const before = await snapshot(t.dataSource);
      const res = await send().expect(status);
      expect(res.body).toEqual(errorEnvelope(code));
      expect(await snapshot(t.dataSource)).toEqual(before);
    });
  });

  describe('error messages name what this API calls things', () => {
    it.each([
      ['a forbidden url on create', () => partner.post('', minimal({ url: 'http://10.0.0.8/hook' })), 400, /^url address 10\.0\.0\.8 is a private/],
      ['an http url with TLS verification on', () => partner.post('', minimal({ ssl_verification: true })), 400, /^url must be https when ssl_verification is on$/],
      ['deliveries of an unknown hook', () => partner.get(`/${randomUUID()}/deliveries`), 404, /^Hook not found\.$/],
      ['an unknown delivery', () => partner.get(`/deliveries/${randomUUID()}`), 404, /^Hook delivery not found\.$/],
      ['redelivering an unknown delivery', () => partner.post(`/deliveries/${randomUUID()}/redeliver`), 404, /^Hook delivery not found\.$/],
    ] as Array<[string, () => request.Test, number, RegExp]>)('%s', async (_name, send, status, message) => {
      const before = await snapshot(t.dataSource);
      const res = await send().expect(status);
      expect(res.body.err_message).toMatch(message);
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('names url when a PATCH moves a hook to a forbidden address, and keeps the hook as it was', async () => {
      const created = (await partner.post('', minimal()).expect(201)).body;
      const res = await partner.patch(`/${created.id}`, { url: 'http://169.254.169.254/latest' }).expect(400);
      expect(res.body.err_message).toMatch(/^url address 169\.254\.169\.254 /);
      expect((await partner.get(`/${created.id}`).expect(200)).body.url).toBe(hook.url);
    });
  });

  describe("another organization's hooks", () => {
    it('answers 404 for every route on them, as for an unknown id, and changes nothing', async () => {
      const created = (await partner.post('', minimal()).expect(201)).body;
      const before = await snapshot(t.dataSource);
      const responses = [
        await other.get(`/${created.id}`),
        await other.patch(`/${created.id}`, { enabled: false }),
        await other.delete(`/${created.id}`),
        await other.post(`/${created.id}/rotate-secret`),
        await other.get(`/${created.id}/deliveries`),
      ];
      for (const res of responses) {
        expect(res.status).toBe(404);
        expect(res.body).toEqual(errorEnvelope('NOT_FOUND'));
      }
      expect((await other.get('').expect(200)).body).toEqual({ items: [], total: 0 });
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it("does not call another organization's hooks for my operations, nor show me their decisions", async () => {
      await other.post('', minimal()).expect(201);
      await callback(t, { login: 'partner', password: tree.password }, 'user_write', { login: 'mine', name: 'Mine', email: 'mine@example.com' }, { tenantId: tenant }).expect(200);
      expect(hook.received).toHaveLength(0);
    });
  });

  describe('decisions log', () => {
    it('lists decisions newest first with filters and paging, only of the caller\'s hooks', async () => {
      const approving = (await partner.post('', minimal({ phase: 'pre' })).expect(201)).body;
      hook.answer((_d, i) => (i === 1 ? reject('second is refused') : approve(`w-${i}`)));
      const send = (login: string) => callback(t, { login: 'partner', password: tree.password }, 'user_write', { login, name: login, email: `${login}@example.com` }, { tenantId: tenant });
      await send('d1').expect(200);
      await send('d2').expect(403);
      await send('d3').expect(200);

      const all = await partner.get('/decisions').expect(200);
      expect(all.body.total).toBe(3);
      expect(all.body.items.map((d: Json) => d.outcome)).toEqual(['approved', 'rejected', 'approved']);
      expect(all.body.items[1]).toMatchObject({
        id: expect.stringMatching(UUID),
        call_id: expect.stringMatching(UUID),
        operation: 'user.create',
        hook_id: approving.id,
        hook_organization_id: tree.partner.id,
        organization_id: tree.customers[0].id,
        auth_id: 'partner',
        approved: false,
        reason: 'second is refused',
        status_code: 200,
        error_class: null,
        failure_policy: 'fail-closed',
        policy_applied: false,
        latency_ms: expect.any(Number),
      });
      expect((await partner.get('/decisions?outcome=rejected').expect(200)).body.total).toBe(1);
      expect((await partner.get(`/decisions?hook_id=${approving.id}&operation=user.create`).expect(200)).body.total).toBe(3);
      expect((await partner.get('/decisions?operation=user.delete').expect(200)).body.total).toBe(0);
      expect((await partner.get('/decisions?limit=1&offset=2').expect(200)).body.items[0].work_id).toBe('w-0');
      expect((await partner.get(`/decisions?since=${new Date(Date.now() + 60_000).toISOString()}`).expect(200)).body.total).toBe(0);
      expect((await other.get('/decisions').expect(200)).body).toEqual({ items: [], total: 0, next_before: null });

      // The log outlives the hook.
      await partner.delete(`/${approving.id}`).expect(204);
      expect((await partner.get('/decisions').expect(200)).body.total).toBe(3);
    });

    it('pages the decisions by key (before), reads one by id, and filters those a failure policy decided', async () => {
      await partner.post('', minimal({ phase: 'pre', failure_policy: 'fail-open' })).expect(201);
      hook.answer((_d, i) => (i === 2 ? { status: 500, body: 'down' } : approve(`k-${i}`)));
      for (const login of ['k1', 'k2', 'k3', 'k4']) {
        await callback(t, { login: 'partner', password: tree.password }, 'user_write', { login, name: login, email: `${login}@example.com` }, { tenantId: tenant }).expect(200);
      }
      const all = (await partner.get('/decisions').expect(200)).body as { items: Json[]; total: number; next_before: string | null };
      expect(all).toMatchObject({ total: 4, next_before: null });
      const ids = all.items.map((d) => d.id as string);

      const first = (await partner.get('/decisions?limit=3').expect(200)).body;
      expect(first.items.map((d: Json) => d.id)).toEqual(ids.slice(0, 3));
      expect(first.next_before).toBe(ids[2]);
      const second = (await partner.get(`/decisions?limit=3&before=${first.next_before}`).expect(200)).body;
      expect(second).toEqual({ items: [all.items[3]], total: 1, next_before: null });

      const failed = (await partner.get('/decisions?policy_applied=true').expect(200)).body;
      expect(failed.items).toHaveLength(1);
      expect(failed.items[0]).toMatchObject({ outcome: 'approved', approved: null, policy_applied: true, error_class: 'http', status_code: 500, work_id: null });
      expect((await partner.get('/decisions?policy_applied=false').expect(200)).body.total).toBe(3);

      expect((await partner.get(`/decisions/${ids[0]}`).expect(200)).body).toEqual(all.items[0]);
      for (const [label, res, status] of [
        ["another organization's decision", await other.get(`/decisions/${ids[0]}`), 404],
        ['an unknown decision', await partner.get(`/decisions/${randomUUID()}`), 404],
        ["another organization's decision as the cursor", await other.get(`/decisions?before=${ids[0]}`), 400],
        ['before with offset', await partner.get(`/decisions?before=${ids[0]}&offset=1`), 400],
        ['a policy_applied that is not a boolean', await partner.get('/decisions?policy_applied=maybe'), 400],
      ] as const) {
        expect({ label, status: res.status }).toEqual({ label, status });
      }
    });

    it('pages the hooks by key (before)', async () => {
      const created: string[] = [];
      for (let i = 0; i < 3; i++) created.push((await partner.post('', minimal({ name: `h${i}` })).expect(201)).body.id as string);
      const all = (await partner.get('').expect(200)).body as { items: Json[]; total: number };
      expect(all.items.map((h) => h.id)).toEqual([...created].reverse());
      const older = (await partner.get(`?before=${all.items[0].id as string}`).expect(200)).body;
      expect(older).toEqual({ items: all.items.slice(1), total: 2 });
      expect((await other.get(`?before=${created[0]}`).expect(400)).body.message).toBe('Invalid request: query.before must be the id of a hook you can see.');
    });
  });
});

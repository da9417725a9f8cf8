import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DeliveryState } from '../../src/webhooks/webhook-delivery.entity';
import type { WebhookSubscription } from '../../src/webhooks/webhook-subscription.entity';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { createTree, createUser, Tree } from '../factories/organizations';
import { createDelivery, createSubscription, webhookSnapshot } from '../factories/webhooks';
import { errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

const BODY_LIMIT = 16384;
/** Enough failed authentications for the whole matrix without tripping the rate limiter (429). */
const AUTH_LIMITS = { AUTH_FAILURES_PER_IDENTITY_ADDRESS: '10000', AUTH_FAILURES_PER_IDENTITY: '10000', AUTH_FAILURES_PER_ADDRESS: '10000' };

type Json = Record<string, unknown>;
type Method = 'get' | 'post' | 'patch' | 'delete';

interface Endpoint {
  name: string;
  method: Method;
  /** The path with `:sub` / `:delivery` for the fixture ids. */
  path: string;
  /** A valid body, for the endpoints that take one. */
  body?: () => Json;
}

/**
 * Every malformed, unauthenticated or foreign request to the webhook API answers a precise 4xx in
 * the protocol's error envelope, never a 500, and leaves every table as it was (checked after
 * each test), and sends nothing to the receiver.
 */
describe('bad input to the webhook API', () => {
  let t: TestApp;
  let tree: Tree;
  let receiver: WebhookReceiver;
  let partnerAuth: string;
  let subAuth: string;
  let otherAuth: string;
  let sub: WebhookSubscription;
  let deliveryId: string;
  let before: Record<string, unknown[]>;

  beforeAll(async () => {
    t = await createTestApp({
      WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1,localhost',
      WEBHOOKS_WORKER_ENABLED: 'false',
      BODY_LIMIT_BYTES: String(BODY_LIMIT),
      ...AUTH_LIMITS,
    });
    tree = await createTree(t.dataSource);
    await createUser(t.dataSource, { organizationId: tree.subPartner.id, login: 'sub', password: 'sub-password' });
    partnerAuth = cyberAppAuth('partner', tree.password);
    subAuth = cyberAppAuth('sub', 'sub-password');
    otherAuth = cyberAppAuth('other', 'other-password');
    receiver = await startWebhookReceiver();
    sub = await createSubscription(t.dataSource, { organizationId: tree.customers[0].id, payloadUrl: receiver.url, secret: 'fixture-secret' });
    deliveryId = (await createDelivery(t.dataSource, { subscriptionId: sub.id, state: DeliveryState.Failed })).id;
  });
  beforeEach(async () => {
    receiver.received.length = 0;
    before = await webhookSnapshot(t.dataSource);
  });
  afterEach(async () => {
    expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    expect(receiver.received).toHaveLength(0);
  });
  afterAll(async () => {
    await receiver.close();
    await t.close();
  });

  const validCreate = (): Json => ({ name: 'hook', payload_url: receiver.url, ssl_verification: false });
  const ENDPOINTS: Endpoint[] = [
    { name: 'POST /api/webhooks', method: 'post', path: '/api/webhooks', body: validCreate },
    { name: 'GET /api/webhooks', method: 'get', path: '/api/webhooks' },
    { name: 'GET /api/webhooks/:id', method: 'get', path: '/api/webhooks/:sub' },
    { name: 'PATCH /api/webhooks/:id', method: 'patch', path: '/api/webhooks/:sub', body: () => ({ name: 'renamed' }) },
    { name: 'DELETE /api/webhooks/:id', method: 'delete', path: '/api/webhooks/:sub' },
    { name: 'POST /api/webhooks/:id/rotate-secret', method: 'post', path: '/api/webhooks/:sub/rotate-secret', body: () => ({ secret: 'next-secret' }) },
    { name: 'POST /api/webhooks/:id/test', method: 'post', path: '/api/webhooks/:sub/test', body: () => ({ payload: { a: 1 } }) },
    { name: 'GET /api/webhooks/deliveries', method: 'get', path: '/api/webhooks/deliveries' },
    { name: 'DELETE /api/webhooks/deliveries', method: 'delete', path: '/api/webhooks/deliveries?subscription_id=:sub' },
    { name: 'GET /api/webhooks/deliveries/:id', method: 'get', path: '/api/webhooks/deliveries/:delivery' },
    { name: 'DELETE /api/webhooks/deliveries/:id', method: 'delete', path: '/api/webhooks/deliveries/:delivery' },
    { name: 'POST /api/webhooks/deliveries/:id/redeliver', method: 'post', path: '/api/webhooks/deliveries/:delivery/redeliver' },
  ];
  const WITH_BODY = ENDPOINTS.filter((e) => e.body);
  const WITH_ID = ENDPOINTS.filter((e) => e.path.includes(':sub') || e.path.includes(':delivery'));
  /** Ids in the path (not the bulk deletion's `subscription_id` query parameter, which is validated as such: 400). */
  const WITH_PATH_ID = WITH_ID.filter((e) => !e.path.includes('?'));
  const table = (list: Endpoint[]): Array<[string, Endpoint]> => list.map((e) => [e.name, e]);

  const pathOf = (e: Endpoint, ids: { sub?: string; delivery?: string } = {}): string =>
    e.path.replace(':sub', ids.sub ?? sub.id).replace(':delivery', ids.delivery ?? deliveryId);
  const call = (e: Endpoint, auth: string | null, ids: { sub?: string; delivery?: string } = {}) => {
    const req = request(t.server)[e.method](pathOf(e, ids));
    if (auth !== null) void req.set('X-CyberApp-Auth', auth);
    return req;
  };
  const send = (e: Endpoint, auth: string | null, ids: { sub?: string; delivery?: string } = {}) => {
    const req = call(e, auth, ids);
    return e.body ? req.send(e.body()) : req;
  };
  const raw = (method: Method, path: string, body: string, type = 'application/json') =>
    request(t.server)[method](path).set('X-CyberApp-Auth', partnerAuth).set('Content-Type', type).send(body);
  const expectError = (res: request.Response, status: number, code: string, field?: string): void => {
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject(errorEnvelope(code));
    if (field) expect(res.body.err_message).toContain(field);
  };

  describe('credentials', () => {
    it.each(table(ENDPOINTS))('%s answers 401 without X-CyberApp-Auth', async (_name, e) => {
      expectError(await send(e, null), 401, 'UNAUTHENTICATED');
    });

    it.each(table(ENDPOINTS))('%s answers 401 for a wrong password', async (_name, e) => {
      expectError(await send(e, cyberAppAuth('partner', 'wrong-password')), 401, 'UNAUTHENTICATED');
    });

    it.each(table(ENDPOINTS))('%s answers 401 for a garbled header', async (_name, e) => {
      expectError(await send(e, 'not base64 at all'), 401, 'UNAUTHENTICATED');
    });
  });

  describe('ids', () => {
    it.each(table(WITH_ID))('%s answers 404 for an unknown id', async (_name, e) => {
      expectError(await send(e, partnerAuth, { sub: randomUUID(), delivery: randomUUID() }), 404, 'NOT_FOUND');
    });

    it.each(table(WITH_ID))("%s answers 404 for another partner's id, as for an unknown one", async (_name, e) => {
      const foreign = await send(e, otherAuth);
      const unknown = await send(e, otherAuth, { sub: randomUUID(), delivery: randomUUID() });
      expectError(foreign, 404, 'NOT_FOUND');
      expect(foreign.body.err_message).toBe(unknown.body.err_message);
    });

    it.each(table(WITH_ID))("%s answers 404 for a parent's id to a sibling sub-partner", async (_name, e) => {
      expectError(await send(e, subAuth), 404, 'NOT_FOUND');
    });

    it.each(table(WITH_PATH_ID))('%s answers 404 for ids that cannot be ids (NUL, newline, 100 characters)', async (_name, e) => {
      for (const id of ['%00', '%0A', 'x'.repeat(100)]) {
        expectError(await send(e, partnerAuth, { sub: id, delivery: id }), 404, 'NOT_FOUND');
      }
    });
  });

  describe('bodies', () => {
    it.each(table(WITH_BODY))('%s answers 400 for malformed JSON', async (_name, e) => {
      expectError(await raw(e.method, pathOf(e), '{"name": "x",'), 400, 'MALFORMED_REQUEST');
    });

    it.each(table(WITH_BODY))('%s answers 400 for an empty JSON body', async (_name, e) => {
      expectError(await raw(e.method, pathOf(e), ''), 400, 'MALFORMED_REQUEST');
    });

    it.each(table(WITH_BODY))('%s answers 400 for bodies that are not objects', async (_name, e) => {
      for (const body of ['[]', '"text"', '42', 'null', 'true']) {
        const res = await raw(e.method, pathOf(e), body);
        expect(res.status).toBe(400);
        expect(['MALFORMED_REQUEST', 'VALIDATION_FAILED']).toContain(res.body.code);
      }
    });

    it.each(table(WITH_BODY))('%s answers 415 for a body that is not JSON', async (_name, e) => {
      expectError(await raw(e.method, pathOf(e), 'name=x', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it.each(table(WITH_BODY))('%s answers 413 for a body over the limit', async (_name, e) => {
      const body = { ...e.body?.(), padding: 'x'.repeat(BODY_LIMIT + 1) };
      expectError(await call(e, partnerAuth).send(body), 413, 'PAYLOAD_TOO_LARGE');
    });

    it.each(table(WITH_BODY))('%s answers 400 for NUL characters in the body', async (_name, e) => {
      expectError(await call(e, partnerAuth).send({ ...e.body?.(), name: 'a\u0000b' }), 400, 'MALFORMED_REQUEST');
    });

    it('POST /api/webhooks/deliveries/:id/redeliver answers 400 for malformed JSON too', async () => {
      expectError(await raw('post', `/api/webhooks/deliveries/${deliveryId}/redeliver`, '{'), 400, 'MALFORMED_REQUEST');
    });
  });

  describe('POST /api/webhooks', () => {
    const post = (body: unknown, auth = partnerAuth) => request(t.server).post('/api/webhooks').set('X-CyberApp-Auth', auth).send(body as object);
    const filter = (extra: Json = {}): Json => ({ mode: 'Include', match: 'Exact', value: 'user.created', ...extra });

    const cases: Array<[string, (b: Json) => void, string]> = [
      ['name missing', (b) => delete b.name, 'name'],
      ['name a number', (b) => (b.name = 42), 'name'],
      ['name empty', (b) => (b.name = ''), 'name'],
      ['name over 255 characters', (b) => (b.name = 'n'.repeat(256)), 'name'],
      ['name with a control character', (b) => (b.name = 'a\u0007b'), 'name'],
      ['name null', (b) => (b.name = null), 'name'],
      ['description a number', (b) => (b.description = 7), 'description'],
      ['description over 4096 characters', (b) => (b.description = 'd'.repeat(4097)), 'description'],
      ['payload_url missing', (b) => delete b.payload_url, 'payload_url'],
      ['payload_url an object', (b) => (b.payload_url = { href: receiver.url }), 'payload_url'],
      ['ssl_verification a string', (b) => (b.ssl_verification = 'false'), 'ssl_verification'],
      ['ssl_verification null', (b) => (b.ssl_verification = null), 'ssl_verification'],
      ['enabled a number', (b) => (b.enabled = 1), 'enabled'],
      ['scope unknown', (b) => (b.scope = 'Everything'), 'scope'],
      ['scope in the wrong case', (b) => (b.scope = 'global'), 'scope'],
      ['organization_id a number', (b) => (b.organization_id = 42), 'organization_id'],
      ['organization_id empty', (b) => (b.organization_id = ''), 'organization_id'],
      ['secret a number', (b) => (b.secret = 12345), 'secret'],
      ['secret empty', (b) => (b.secret = ''), 'secret'],
      ['secret null', (b) => (b.secret = null), 'secret'],
      ['secret over 255 characters', (b) => (b.secret = `s3cr3t-${'k'.repeat(300)}`), 'secret'],
      ['filters an object', (b) => (b.filters = filter()), 'filters'],
      ['filters holding a string', (b) => (b.filters = ['user.created']), 'filters'],
      ['filters holding null', (b) => (b.filters = [null]), 'filters'],
      ['filters with an unknown mode', (b) => (b.filters = [filter({ mode: 'Maybe' })]), 'mode'],
      ['filters with a lower-case mode', (b) => (b.filters = [filter({ mode: 'include' })]), 'mode'],
      ['filters with an unknown match', (b) => (b.filters = [filter({ match: 'Regex' })]), 'match'],
      ['filters with an empty value', (b) => (b.filters = [filter({ value: '' })]), 'value'],
      ['filters with a value over 255 characters', (b) => (b.filters = [filter({ value: 'v'.repeat(256) })]), 'value'],
      ['filters with a value missing', (b) => (b.filters = [{ mode: 'Include', match: 'Exact' }]), 'value'],
      ['more than 50 filters', (b) => (b.filters = Array.from({ length: 51 }, (_, i) => filter({ value: `e${i}` }))), 'filters'],
    ];

    it.each(cases)('answers 400 for %s', async (_name, mutate, field) => {
      const body = validCreate();
      mutate(body);
      const res = await post(body);
      expectError(res, 400, 'VALIDATION_FAILED', field);
    });

    it('never echoes an oversize secret in the error', async () => {
      const secret = `do-not-echo-${'q'.repeat(300)}`;
      const res = await post({ ...validCreate(), secret });
      expectError(res, 400, 'VALIDATION_FAILED', 'secret');
      expect(JSON.stringify(res.body)).not.toContain('do-not-echo');
    });

    it.each([
      ['not a URL', 'not a url'],
      ['a relative path', '/hooks'],
      ['an ftp URL', 'ftp://127.0.0.1/hook'],
      ['a javascript: URL', 'javascript:alert(1)'],
      ['a file: URL', 'file:///etc/passwd'],
      ['a URL with credentials', 'http://user:pass@127.0.0.1:8080/hook'],
      ['a URL over 2048 characters', `http://127.0.0.1/${'p'.repeat(2048)}`],
    ])('answers 400 for %s as payload_url', async (_name, url) => {
      expectError(await post({ ...validCreate(), payload_url: url }), 400, 'VALIDATION_FAILED', 'payload_url');
    });

    it('answers 400 for an http URL while SSL verification is on (the default)', async () => {
      const res = await post({ name: 'hook', payload_url: receiver.url });
      expectError(res, 400, 'VALIDATION_FAILED', 'https');
      expectError(await post({ ...validCreate(), ssl_verification: true }), 400, 'VALIDATION_FAILED', 'https');
    });

    it("answers 403 for another partner's organization", async () => {
      expectError(await post({ ...validCreate(), organization_id: tree.other.id }), 403, 'FORBIDDEN', 'organization_id');
    });

    it('answers 403 for scope Global from below the root', async () => {
      expectError(await post({ ...validCreate(), scope: 'Global' }, subAuth), 403, 'FORBIDDEN', 'Global');
    });

    it('answers 403 before looking at the URL of a foreign organization', async () => {
      expectError(await post({ ...validCreate(), payload_url: 'not a url', organization_id: tree.other.id }), 403, 'FORBIDDEN');
    });
  });

  describe('PATCH /api/webhooks/:id', () => {
    const patch = (body: unknown) => request(t.server).patch(`/api/webhooks/${sub.id}`).set('X-CyberApp-Auth', partnerAuth).send(body as object);

    it.each([
      ['an empty object', {}, 'at least one'],
      ['only unknown fields', { colour: 'blue' }, 'unknown field colour'],
      ['organization_id (ownership does not move)', { organization_id: randomUUID() }, 'organization_id'],
      ['name null', { name: null }, 'name'],
      ['payload_url null', { payload_url: null }, 'payload_url'],
      ['enabled a string', { enabled: 'true' }, 'enabled'],
      ['scope unknown', { scope: 'World' }, 'scope'],
      ['secret null', { secret: null }, 'secret'],
      ['secret over 255 characters', { secret: 'x'.repeat(256) }, 'secret'],
      ['filters null', { filters: null }, 'filters'],
      ['filters with an unknown mode', { filters: [{ mode: 'Only', match: 'Exact', value: 'a' }] }, 'mode'],
      ['an invalid URL', { payload_url: 'http//missing-colon' }, 'payload_url'],
      ['SSL verification on for its http URL', { ssl_verification: true }, 'https'],
      ['a gopher URL', { payload_url: 'gopher://127.0.0.1/' }, 'payload_url'],
    ])('answers 400 for %s', async (_name, body, field) => {
      expectError(await patch(body), 400, 'VALIDATION_FAILED', field);
    });

    it('answers 400 without a body', async () => {
      const res = await request(t.server).patch(`/api/webhooks/${sub.id}`).set('X-CyberApp-Auth', partnerAuth);
      expectError(res, 400, 'VALIDATION_FAILED');
    });

    it('answers 403 for scope Global below the root', async () => {
      expectError(await patch({ scope: 'Global' }), 403, 'FORBIDDEN', 'Global');
    });
  });

  describe('POST /api/webhooks/:id/rotate-secret', () => {
    const rotate = (body: unknown) => request(t.server).post(`/api/webhooks/${sub.id}/rotate-secret`).set('X-CyberApp-Auth', partnerAuth).send(body as object);

    it.each([
      ['secret over 255 characters', { secret: 'y'.repeat(256) }],
      ['secret empty', { secret: '' }],
      ['secret a number', { secret: 42 }],
      ['secret null', { secret: null }],
    ])('answers 400 for %s', async (_name, body) => {
      const res = await rotate(body);
      expectError(res, 400, 'VALIDATION_FAILED', 'secret');
      expect(JSON.stringify(res.body)).not.toContain('yyyyyyyy');
    });
  });

  describe('POST /api/webhooks/:id/test', () => {
    const test = (body: unknown) => request(t.server).post(`/api/webhooks/${sub.id}/test`).set('X-CyberApp-Auth', partnerAuth).send(body as object);

    it.each([
      ['payload an array', { payload: [1, 2] }],
      ['payload a string', { payload: 'works!' }],
      ['payload a number', { payload: 1 }],
      ['payload null', { payload: null }],
    ])('answers 400 for %s, sending nothing', async (_name, body) => {
      expectError(await test(body), 400, 'VALIDATION_FAILED', 'payload');
    });
  });

  describe('paths the router refuses', () => {
    it('answers 400 in the envelope for a badly percent-encoded path, without echoing it', async () => {
      const res = await request(t.server).delete('/api/webhooks/%E0%A4%A').set('X-CyberApp-Auth', partnerAuth).expect(400);
      expect(res.body).toEqual(errorEnvelope('MALFORMED_REQUEST'));
      expect(res.headers['x-request-id']).toEqual(expect.any(String));
      expect(JSON.stringify(res.body)).not.toContain('%E0');
    });

    it('answers 414 in the envelope for an overlong path segment, without echoing it', async () => {
      const res = await request(t.server).delete(`/api/webhooks/${'a'.repeat(600)}`).set('X-CyberApp-Auth', partnerAuth).expect(414);
      expect(res.body).toEqual(errorEnvelope('URI_TOO_LONG'));
      expect(JSON.stringify(res.body)).not.toContain('aaaa');
    });
  });

  describe('query strings', () => {
    const get = (path: string) => request(t.server).get(path).set('X-CyberApp-Auth', partnerAuth);
    const del = (path: string) => request(t.server).delete(path).set('X-CyberApp-Auth', partnerAuth);

    it.each([
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1.5', 'limit'],
      ['offset=-1', 'offset'],
      ['offset=x', 'offset'],
      ['enabled=yes', 'enabled'],
      ['enabled=true&enabled=false', 'enabled'],
      ['organization_id=%00', 'organization_id'],
      [`organization_id=${'o'.repeat(65)}`, 'organization_id'],
    ])('GET /api/webhooks answers 400 for %s', async (query, field) => {
      expectError(await get(`/api/webhooks?${query}`), 400, 'VALIDATION_FAILED', field);
    });

    it("GET /api/webhooks answers 403 for another partner's or an unknown organization", async () => {
      expectError(await get(`/api/webhooks?organization_id=${tree.other.id}`), 403, 'FORBIDDEN');
      expectError(await get(`/api/webhooks?organization_id=${randomUUID()}`), 403, 'FORBIDDEN');
    });

    it.each([
      ['since=yesterday', 'since'],
      ['until=2024-13-01T00:00:00Z', 'until'],
      ['since=2024-02-30T00:00:00Z', 'since'],
      ['since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z', 'since'],
      ['success=maybe', 'success'],
      ['state=lost', 'state'],
      ['state=pending&state=failed', 'state'],
      ['limit=0', 'limit'],
      ['limit=1000', 'limit'],
      ['offset=-5', 'offset'],
      [`event_type=${'e'.repeat(129)}`, 'event_type'],
      ['subscription_id=%01', 'subscription_id'],
    ])('GET /api/webhooks/deliveries answers 400 for %s', async (query, field) => {
      expectError(await get(`/api/webhooks/deliveries?${query}`), 400, 'VALIDATION_FAILED', field);
    });

    it.each([
      ['no subscription_id', '', 'subscription_id'],
      ['a subscription_id with a NUL', 'subscription_id=%00', 'subscription_id'],
      ['a subscription_id of 100 characters', `subscription_id=${'x'.repeat(100)}`, 'subscription_id'],
      ['a misspelt filter', `subscription_id=${'{sub}'}&untill=2024-01-01T00:00:00Z`, 'untill'],
      ['paging parameters', `subscription_id=${'{sub}'}&limit=10`, 'limit'],
      ['a bad date', `subscription_id=${'{sub}'}&until=soon`, 'until'],
      ['an unknown state', `subscription_id=${'{sub}'}&state=gone`, 'state'],
      ['success not a boolean', `subscription_id=${'{sub}'}&success=1`, 'success'],
    ])('DELETE /api/webhooks/deliveries answers 400 for %s', async (_name, query, field) => {
      expectError(await del(`/api/webhooks/deliveries?${query.replace('{sub}', sub.id)}`), 400, 'VALIDATION_FAILED', field);
    });
  });

  describe('private addresses without the allow-list', () => {
    let strict: TestApp;
    let strictTree: Tree;
    let strictAuth: string;
    let strictSub: WebhookSubscription;
    let strictBefore: Record<string, unknown[]>;

    beforeAll(async () => {
      strict = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false', ...AUTH_LIMITS });
      strictTree = await createTree(strict.dataSource);
      strictAuth = cyberAppAuth('partner', strictTree.password);
      strictSub = await createSubscription(strict.dataSource, { organizationId: strictTree.partner.id, payloadUrl: 'https://example.com/hook', sslVerification: true });
    });
    beforeEach(async () => {
      strictBefore = await webhookSnapshot(strict.dataSource);
    });
    afterEach(async () => {
      expect(await webhookSnapshot(strict.dataSource)).toEqual(strictBefore);
    });
    afterAll(() => strict.close());

    it.each([
      ['loopback', 'https://127.0.0.1/hook'],
      ['loopback elsewhere in 127/8', 'https://127.1.2.3:8443/hook'],
      ['IPv6 loopback', 'https://[::1]/hook'],
      ['IPv4-mapped IPv6 loopback', 'https://[::ffff:127.0.0.1]/hook'],
      ['localhost', 'https://localhost/hook'],
      ['private 10/8', 'https://10.1.2.3/hook'],
      ['private 172.16/12', 'https://172.16.0.1/hook'],
      ['private 192.168/16', 'https://192.168.1.1/hook'],
      ['link-local (cloud metadata)', 'https://169.254.169.254/latest/meta-data'],
      ['IPv6 link-local', 'https://[fe80::1]/hook'],
      ['unspecified', 'https://0.0.0.0/hook'],
    ])('refuses a %s payload URL on create (400)', async (_name, url) => {
      const res = await request(strict.server).post('/api/webhooks').set('X-CyberApp-Auth', strictAuth).send({ name: 'hook', payload_url: url });
      expectError(res, 400, 'VALIDATION_FAILED', 'payload_url');
    });

    it('refuses a private payload URL on update (400)', async () => {
      const res = await request(strict.server).patch(`/api/webhooks/${strictSub.id}`).set('X-CyberApp-Auth', strictAuth).send({ payload_url: 'https://10.0.0.8/hook' });
      expectError(res, 400, 'VALIDATION_FAILED', 'WEBHOOKS_ALLOWED_PRIVATE');
    });

    it('does not reach a private address in a test delivery either', async () => {
      // A row stored before the policy changed (or written directly): the sender checks every connection.
      await strict.dataSource.getRepository('WebhookSubscription').update({ id: strictSub.id }, { payloadUrl: receiver.url, sslVerification: false });
      strictBefore = await webhookSnapshot(strict.dataSource);
      const res = await request(strict.server).post(`/api/webhooks/${strictSub.id}/test`).set('X-CyberApp-Auth', strictAuth).expect(200);
      expect(res.body).toMatchObject({ success: false, status: null, error_class: 'blocked' });
    });
  });
});

import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { Organization, OrganizationKind } from '../../src/organizations/organization.entity';
import { WebhookDeliveryAttempt } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { WebhookScope, WebhookSubscription } from '../../src/webhooks/webhook-subscription.entity';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { createOrganization, createTree, createUser, Tree } from '../factories/organizations';
import { createAttempt, createDelivery, createSubscription, webhookSnapshot } from '../factories/webhooks';
import { errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

const ROUTE = '/api/webhooks';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const WHSEC = /^whsec_[A-Za-z0-9+/]{43}=$/;
const OVERLAP_HOURS = 24;

type Json = Record<string, unknown>;

describe('webhook subscriptions API', () => {
  let t: TestApp;
  let tree: Tree;
  let receiver: WebhookReceiver;
  const auth: Record<'partner' | 'sub' | 'customer' | 'other', string> = { partner: '', sub: '', customer: '', other: '' };
  let subUserId: string;

  beforeAll(async () => {
    t = await createTestApp({ WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1,localhost', WEBHOOKS_WORKER_ENABLED: 'false' });
    tree = await createTree(t.dataSource);
    subUserId = (await createUser(t.dataSource, { organizationId: tree.subPartner.id, login: 'sub', password: 'sub-password' })).id;
    await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'customer', password: 'customer-password' });
    auth.partner = cyberAppAuth('partner', tree.password);
    auth.sub = cyberAppAuth('sub', 'sub-password');
    auth.customer = cyberAppAuth('customer', 'customer-password');
    auth.other = cyberAppAuth('other', 'other-password');
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await t.close();
  });

  const as = (who: keyof typeof auth) => ({
    post: (path: string, body?: unknown) => {
      const req = request(t.server).post(`${ROUTE}${path}`).set('X-CyberApp-Auth', auth[who]);
      return body === undefined ? req : req.send(body as object);
    },
    get: (path: string) => request(t.server).get(`${ROUTE}${path}`).set('X-CyberApp-Auth', auth[who]),
    patch: (path: string, body: unknown) => request(t.server).patch(`${ROUTE}${path}`).set('X-CyberApp-Auth', auth[who]).send(body as object),
    delete: (path: string) => request(t.server).delete(`${ROUTE}${path}`).set('X-CyberApp-Auth', auth[who]),
  });
  const partner = as('partner');
  const subscriptions = () => t.dataSource.getRepository(WebhookSubscription);
  const minimal = (extra: Json = {}): Json => ({ name: 'Audit log', payload_url: receiver.url, ssl_verification: false, ...extra });
  /** Runs `work` while the partner is the root: the other partner's tree is hung below it for the while. */
  async function asSoleRoot<T>(work: () => Promise<T>): Promise<T> {
    await t.dataSource.getRepository(Organization).update({ id: tree.other.id }, { parentId: tree.partner.id });
    try {
      return await work();
    } finally {
      await t.dataSource.getRepository(Organization).update({ id: tree.other.id }, { parentId: null });
    }
  }

  describe('creating', () => {
    it('creates a subscription with the defaults and answers 201 with a generated whsec_ secret', async () => {
      const started = Date.now();
      const res = await partner.post('', { name: 'Audit log', payload_url: 'https://127.0.0.1:8443/hooks' }).expect(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(UUID),
        organization_id: tree.partner.id,
        name: 'Audit log',
        description: null,
        payload_url: 'https://127.0.0.1:8443/hooks',
        ssl_verification: true,
        enabled: true,
        disabled_reason: null,
        disabled_at: null,
        failing_since: null,
        scope: 'Local',
        filters: [],
        created_by: tree.partnerUser.id,
        created_at: expect.stringMatching(ISO),
        updated_at: expect.stringMatching(ISO),
        has_secret: true,
        previous_secret_expires_at: null,
        secret: expect.stringMatching(WHSEC),
      });
      const stored = await subscriptions().findOneByOrFail({ id: res.body.id });
      expect(stored).toMatchObject({
        organizationId: tree.partner.id,
        createdBy: tree.partnerUser.id,
        secret: res.body.secret,
        previousSecret: null,
        sslVerification: true,
        enabled: true,
        scope: WebhookScope.Local,
        filters: [],
      });
      expect(stored.createdAt.getTime()).toBeGreaterThanOrEqual(started - 1000);
    });

    it('stores every field given, with the caller-supplied secret', async () => {
      const filters = [
        { mode: 'Include', match: 'Prefix', value: 'user.' },
        { mode: 'Exclude', match: 'Exact', value: 'user.deleted' },
      ];
      const body = minimal({ description: 'All user changes', secret: 'my-own-secret', enabled: false, scope: 'Domain', filters });
      const res = await partner.post('', body).expect(201);
      expect(res.body).toMatchObject({ description: 'All user changes', ssl_verification: false, enabled: false, scope: 'Domain', filters, secret: 'my-own-secret' });
      const stored = await subscriptions().findOneByOrFail({ id: res.body.id });
      expect(stored).toMatchObject({ description: 'All user changes', payloadUrl: receiver.url, secret: 'my-own-secret', enabled: false, filters });
    });

    it('generates a different secret for every subscription', async () => {
      const a = await partner.post('', minimal()).expect(201);
      const b = await partner.post('', minimal()).expect(201);
      expect(a.body.secret).not.toBe(b.body.secret);
    });

    it('creates a subscription for an organization below the caller', async () => {
      for (const org of [tree.customers[1], tree.subPartner, tree.subCustomer]) {
        const res = await partner.post('', minimal({ organization_id: org.id })).expect(201);
        expect(res.body.organization_id).toBe(org.id);
        expect((await subscriptions().findOneByOrFail({ id: res.body.id })).organizationId).toBe(org.id);
      }
    });

    it('accepts scope Domain on a customer organization', async () => {
      const res = await as('customer').post('', minimal({ scope: 'Domain' })).expect(201);
      expect(res.body).toMatchObject({ organization_id: tree.customers[0].id, scope: 'Domain' });
    });

    it('lets a user of the root organization create a Global subscription', async () => {
      const res = await asSoleRoot(() => partner.post('', minimal({ scope: 'Global' })).expect(201));
      expect(res.body.scope).toBe('Global');
    });

    it('refuses Global while another top-level organization exists: with several trees there is no root (403)', async () => {
      const before = await webhookSnapshot(t.dataSource);
      const res = await partner.post('', minimal({ scope: 'Global' })).expect(403);
      expect(res.body.err_message).toContain('only one without a parent');
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });

    it('refuses Global from a caller below the root (403)', async () => {
      const before = await webhookSnapshot(t.dataSource);
      const res = await as('sub').post('', minimal({ scope: 'Global' })).expect(403);
      expect(res.body).toMatchObject(errorEnvelope('FORBIDDEN'));
      expect(res.body.err_message).toContain('Global');
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });

    it('refuses Global for an organization below the root, even from the root (403)', async () => {
      const before = await webhookSnapshot(t.dataSource);
      await partner.post('', minimal({ scope: 'Global', organization_id: tree.subPartner.id })).expect(403);
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });

    it("refuses another partner's organization and an unknown one alike (403)", async () => {
      const before = await webhookSnapshot(t.dataSource);
      const foreign = await partner.post('', minimal({ organization_id: tree.otherCustomer.id })).expect(403);
      const unknown = await partner.post('', minimal({ organization_id: randomUUID() })).expect(403);
      expect(foreign.body).toMatchObject(errorEnvelope('FORBIDDEN'));
      expect(foreign.body.err_message).toBe(unknown.body.err_message);
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });

    it("refuses a customer creating one for its partner's organization (403)", async () => {
      await as('customer').post('', minimal({ organization_id: tree.partner.id })).expect(403);
    });
  });

  describe('reading', () => {
    let org: string;
    let ids: string[];

    beforeAll(async () => {
      // A fresh customer so that its listing holds exactly these subscriptions.
      org = (await createOrganization(t.dataSource, { kind: OrganizationKind.Customer, parentId: tree.subPartner.id })).id;
      ids = [];
      for (let i = 0; i < 4; i++) {
        const res = await as('sub').post('', minimal({ name: `hook-${i}`, organization_id: org, enabled: i % 2 === 0 })).expect(201);
        ids.push(res.body.id);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      ids.reverse();
    });

    it('lists the subscriptions of an organization newest first with the total, never with the secret', async () => {
      const res = await partner.get(`?organization_id=${org}`).expect(200);
      expect(res.body.total).toBe(4);
      expect(res.body.items.map((i: Json) => i.id)).toEqual(ids);
      expect(res.body.items[0]).toMatchObject({ name: 'hook-3', organization_id: org, created_by: subUserId, has_secret: true });
      for (const item of res.body.items) expect(item).not.toHaveProperty('secret');
    });

    it('pages with limit and offset, the total counting every match', async () => {
      const first = await partner.get(`?organization_id=${org}&limit=3`).expect(200);
      const second = await partner.get(`?organization_id=${org}&limit=3&offset=3`).expect(200);
      expect(first.body.total).toBe(4);
      expect(second.body.total).toBe(4);
      expect([...first.body.items, ...second.body.items].map((i: Json) => i.id)).toEqual(ids);
    });

    it('filters by enabled', async () => {
      const enabled = await partner.get(`?organization_id=${org}&enabled=true`).expect(200);
      expect(enabled.body.items.map((i: Json) => i.name)).toEqual(['hook-2', 'hook-0']);
      const disabled = await partner.get(`?organization_id=${org}&enabled=false`).expect(200);
      expect(disabled.body.items.map((i: Json) => i.name)).toEqual(['hook-3', 'hook-1']);
    });

    it("shows a partner its children's subscriptions when listing everything", async () => {
      const res = await partner.get('?limit=500').expect(200);
      expect(res.body.items.map((i: Json) => i.id)).toEqual(expect.arrayContaining(ids));
      expect(res.body.total).toBe(res.body.items.length);
    });

    it("never shows a customer its partner's subscriptions", async () => {
      const mine = await as('customer').post('', minimal()).expect(201);
      const res = await as('customer').get('?limit=500').expect(200);
      expect(res.body.items.map((i: Json) => i.id)).toContain(mine.body.id);
      expect(res.body.items.every((i: Json) => i.organization_id === tree.customers[0].id)).toBe(true);
      await as('customer').get(`?organization_id=${tree.partner.id}`).expect(403);
      await as('customer').get(`/${ids[0]}`).expect(404);
    });

    it('shows a sub-partner its own subtree only', async () => {
      const res = await as('sub').get('?limit=500').expect(200);
      const orgs = new Set(res.body.items.map((i: Json) => i.organization_id));
      expect([...orgs].every((o) => o === tree.subPartner.id || o === tree.subCustomer.id || o === org)).toBe(true);
      const partnerOwn = await partner.post('', minimal()).expect(201);
      await as('sub').get(`/${partnerOwn.body.id}`).expect(404);
    });

    it('reads one subscription without its secret', async () => {
      const res = await partner.get(`/${ids[0]}`).expect(200);
      expect(res.body).toMatchObject({ id: ids[0], name: 'hook-3', organization_id: org, has_secret: true, previous_secret_expires_at: null });
      expect(res.body).not.toHaveProperty('secret');
    });

    it("answers 404 to another partner reading this partner's subscription, as for an unknown id", async () => {
      const foreign = await as('other').get(`/${ids[0]}`).expect(404);
      const unknown = await as('other').get(`/${randomUUID()}`).expect(404);
      expect(foreign.body).toMatchObject(errorEnvelope('NOT_FOUND'));
      expect({ ...foreign.body, response_id: null }).toEqual({ ...unknown.body, response_id: null });
    });

    it("answers 403 to another partner listing this partner's organization", async () => {
      const res = await as('other').get(`?organization_id=${org}`).expect(403);
      expect(res.body).toMatchObject(errorEnvelope('FORBIDDEN'));
    });
  });

  describe('updating', () => {
    let id: string;

    beforeEach(async () => {
      id = (await partner.post('', minimal({ organization_id: tree.customers[0].id, description: 'first' })).expect(201)).body.id;
    });

    it('changes the given fields only and moves updated_at', async () => {
      const before = await subscriptions().findOneByOrFail({ id });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const filters = [{ mode: 'Include', match: 'Suffix', value: '.created' }];
      const res = await partner.patch(`/${id}`, { name: 'Renamed', filters, scope: 'Domain' }).expect(200);
      expect(res.body).toMatchObject({ id, name: 'Renamed', description: 'first', filters, scope: 'Domain', payload_url: receiver.url, has_secret: true });
      expect(res.body).not.toHaveProperty('secret');
      const after = await subscriptions().findOneByOrFail({ id });
      expect(after).toMatchObject({ name: 'Renamed', description: 'first', filters, scope: 'Domain', secret: before.secret });
      expect(after.updatedAt.getTime()).toBeGreaterThan(before.updatedAt.getTime());
      expect(new Date(res.body.updated_at).getTime()).toBe(after.updatedAt.getTime());
    });

    it('clears the description with null', async () => {
      const res = await partner.patch(`/${id}`, { description: null }).expect(200);
      expect(res.body.description).toBeNull();
      expect((await subscriptions().findOneByOrFail({ id })).description).toBeNull();
    });

    it('clears disabled_reason when the subscription is enabled again', async () => {
      await subscriptions().update({ id }, { enabled: false, disabledReason: 'The receiver answered 410 Gone.' });
      expect((await partner.get(`/${id}`).expect(200)).body).toMatchObject({ enabled: false, disabled_reason: 'The receiver answered 410 Gone.' });
      const res = await partner.patch(`/${id}`, { enabled: true }).expect(200);
      expect(res.body).toMatchObject({ enabled: true, disabled_reason: null });
      expect(await subscriptions().findOneByOrFail({ id })).toMatchObject({ enabled: true, disabledReason: null });
    });

    it('replaces the secret at once, without an overlap', async () => {
      await partner.post(`/${id}/rotate-secret`).expect(200);
      const res = await partner.patch(`/${id}`, { secret: 'replaced-secret' }).expect(200);
      expect(res.body).toMatchObject({ has_secret: true, previous_secret_expires_at: null });
      expect(res.body).not.toHaveProperty('secret');
      expect(await subscriptions().findOneByOrFail({ id })).toMatchObject({ secret: 'replaced-secret', previousSecret: null, previousSecretExpiresAt: null });
    });

    it('re-checks the URL when it changes', async () => {
      const res = await partner.patch(`/${id}`, { payload_url: 'https://localhost:9443/new' }).expect(200);
      expect(res.body).toMatchObject({ payload_url: 'https://localhost:9443/new', ssl_verification: false });
      const refused = await partner.patch(`/${id}`, { payload_url: 'ftp://localhost/x' }).expect(400);
      expect(refused.body.err_message).toContain('http or https');
    });

    it('refuses turning SSL verification on for an http URL (400), changing nothing', async () => {
      const before = await webhookSnapshot(t.dataSource);
      const res = await partner.patch(`/${id}`, { ssl_verification: true }).expect(400);
      expect(res.body).toMatchObject(errorEnvelope('VALIDATION_FAILED'));
      expect(res.body.err_message).toContain('https');
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });

    it('refuses scope Global for a subscription below the root (403)', async () => {
      const before = await webhookSnapshot(t.dataSource);
      await partner.patch(`/${id}`, { scope: 'Global' }).expect(403);
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });

    it('lets the root turn its own subscription Global', async () => {
      const own = (await partner.post('', minimal()).expect(201)).body.id;
      const res = await asSoleRoot(() => partner.patch(`/${own}`, { scope: 'Global' }).expect(200));
      expect(res.body.scope).toBe('Global');
    });

    it("answers 404 to another partner updating this partner's subscription, changing nothing", async () => {
      const before = await webhookSnapshot(t.dataSource);
      const res = await as('other').patch(`/${id}`, { name: 'Stolen' }).expect(404);
      expect(res.body).toMatchObject(errorEnvelope('NOT_FOUND'));
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });
  });

  describe('deleting', () => {
    it('deletes the subscription with its deliveries and their attempts (204)', async () => {
      const id = (await partner.post('', minimal()).expect(201)).body.id;
      const keep = await createSubscription(t.dataSource, { organizationId: tree.partner.id });
      const delivery = await createDelivery(t.dataSource, { subscriptionId: id });
      await createAttempt(t.dataSource, { deliveryId: delivery.id });
      const kept = await createDelivery(t.dataSource, { subscriptionId: keep.id });
      await createAttempt(t.dataSource, { deliveryId: kept.id });

      const res = await partner.delete(`/${id}`).expect(204);
      expect(res.text).toBe('');
      expect(await subscriptions().countBy({ id })).toBe(0);
      expect(await t.dataSource.getRepository(WebhookDelivery).countBy({ subscriptionId: id })).toBe(0);
      expect(await t.dataSource.getRepository(WebhookDeliveryAttempt).countBy({ deliveryId: delivery.id })).toBe(0);
      expect(await t.dataSource.getRepository(WebhookDeliveryAttempt).countBy({ deliveryId: kept.id })).toBe(1);
      await partner.get(`/${id}`).expect(404);
      await partner.delete(`/${id}`).expect(404);
    });

    it("lets a partner delete its child's subscription", async () => {
      const id = (await as('sub').post('', minimal()).expect(201)).body.id;
      await partner.delete(`/${id}`).expect(204);
      expect(await subscriptions().countBy({ id })).toBe(0);
    });

    it("answers 404 to a customer deleting its partner's subscription, changing nothing", async () => {
      const id = (await partner.post('', minimal()).expect(201)).body.id;
      const before = await webhookSnapshot(t.dataSource);
      await as('customer').delete(`/${id}`).expect(404);
      await as('other').delete(`/${id}`).expect(404);
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });
  });

  describe('rotating the secret', () => {
    it('answers the new secret and keeps the previous one until the overlap ends', async () => {
      const created = (await partner.post('', minimal()).expect(201)).body;
      const started = Date.now();
      const res = await partner.post(`/${created.id}/rotate-secret`).expect(200);
      expect(res.body).toMatchObject({ id: created.id, secret: expect.stringMatching(WHSEC), has_secret: true });
      expect(res.body.secret).not.toBe(created.secret);
      const expires = new Date(res.body.previous_secret_expires_at).getTime();
      expect(expires).toBeGreaterThanOrEqual(started + OVERLAP_HOURS * 3_600_000 - 1000);
      expect(expires).toBeLessThanOrEqual(Date.now() + OVERLAP_HOURS * 3_600_000 + 1000);
      const stored = await subscriptions().findOneByOrFail({ id: created.id });
      expect(stored).toMatchObject({ secret: res.body.secret, previousSecret: created.secret });
      expect(stored.previousSecretExpiresAt?.getTime()).toBe(expires);
      const view = await partner.get(`/${created.id}`).expect(200);
      expect(view.body.previous_secret_expires_at).toBe(res.body.previous_secret_expires_at);
      expect(view.body).not.toHaveProperty('secret');
    });

    it('takes the new secret from the body', async () => {
      const created = (await partner.post('', minimal({ secret: 'old-secret' })).expect(201)).body;
      const res = await partner.post(`/${created.id}/rotate-secret`, { secret: 'new-secret' }).expect(200);
      expect(res.body.secret).toBe('new-secret');
      expect(await subscriptions().findOneByOrFail({ id: created.id })).toMatchObject({ secret: 'new-secret', previousSecret: 'old-secret' });
    });

    it('signs test deliveries with both the new and the old secret during the overlap', async () => {
      const created = (await partner.post('', minimal({ secret: generateSecret() })).expect(201)).body;
      const rotated = (await partner.post(`/${created.id}/rotate-secret`).expect(200)).body;
      const both = await startWebhookReceiver({ secret: rotated.secret, previousSecret: created.secret });
      try {
        await partner.patch(`/${created.id}`, { payload_url: both.url }).expect(200);
        const res = await partner.post(`/${created.id}/test`).expect(200);
        expect(res.body.success).toBe(true);
        const [got] = await both.waitFor(1);
        expect(got.verified).toEqual({ cs: true, standard: true });
        const headers = flatHeaders(got.headers);
        expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
        // Each secret alone verifies: receivers on either side of the rotation accept the delivery.
        expect(() => new Webhook(rotated.secret).verify(got.body, headers, { jsonParse: false })).not.toThrow();
        expect(() => new Webhook(created.secret).verify(got.body, headers, { jsonParse: false })).not.toThrow();
      } finally {
        await both.close();
      }
    });

    it('signs with the new secret only once the overlap has ended', async () => {
      const created = (await partner.post('', minimal({ secret: generateSecret() })).expect(201)).body;
      const rotated = (await partner.post(`/${created.id}/rotate-secret`).expect(200)).body;
      await subscriptions().update({ id: created.id }, { previousSecretExpiresAt: new Date(Date.now() - 1000) });
      const only = await startWebhookReceiver({ secret: rotated.secret });
      try {
        await partner.patch(`/${created.id}`, { payload_url: only.url }).expect(200);
        await partner.post(`/${created.id}/test`).expect(200);
        const [got] = await only.waitFor(1);
        const headers = flatHeaders(got.headers);
        expect(headers['webhook-signature'].split(' ')).toHaveLength(1);
        expect(got.verified).toEqual({ cs: true, standard: true });
        expect(() => new Webhook(created.secret).verify(got.body, headers, { jsonParse: false })).toThrow();
      } finally {
        await only.close();
      }
    });

    it("answers 404 to another partner rotating this partner's secret, changing nothing", async () => {
      const id = (await partner.post('', minimal()).expect(201)).body.id;
      const before = await webhookSnapshot(t.dataSource);
      const res = await as('other').post(`/${id}/rotate-secret`).expect(404);
      expect(res.body).toMatchObject(errorEnvelope('NOT_FOUND'));
      expect(JSON.stringify(res.body)).not.toContain('whsec_');
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });
  });

  describe('test delivery', () => {
    let secret: string;
    let signed: WebhookReceiver;

    beforeAll(async () => {
      secret = generateSecret();
      signed = await startWebhookReceiver({ secret });
    });
    afterAll(() => signed.close());
    beforeEach(() => {
      signed.received.length = 0;
      signed.setBehaviour({ status: 200, body: 'ok' });
    });

    it("sends TEST.WEBHOOK with CloudStack's default body, signed, answers the receiver's response and stores nothing", async () => {
      const id = (await partner.post('', minimal({ payload_url: signed.url, secret })).expect(201)).body.id;
      const before = await webhookSnapshot(t.dataSource);
      const res = await partner.post(`/${id}/test`).expect(200);
      expect(res.body).toEqual({ success: true, status: 200, response_body: 'ok', error_class: null, error: null, duration_ms: expect.any(Number) });
      const [got] = await signed.waitFor(1);
      expect(got.method).toBe('POST');
      expect(got.path).toBe('/hook');
      expect(got.body.toString('utf8')).toBe('{"CloudStack":"works!"}');
      expect(got.headers['x-cs-event']).toBe('TEST.WEBHOOK');
      expect(got.headers['x-cs-event-id']).toMatch(UUID);
      expect(got.headers['webhook-id']).toBe(got.headers['x-cs-event-id']);
      expect(got.headers['user-agent']).toBe(`CS-Hookshot/${tree.partnerUser.id}`);
      expect(got.headers['content-type']).toBe('application/json');
      expect(got.verified).toEqual({ cs: true, standard: true });
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });

    it('sends the given payload as JSON, with a new event id every time', async () => {
      const id = (await partner.post('', minimal({ payload_url: signed.url, secret })).expect(201)).body.id;
      const payload = { hello: 'world', nested: { list: [1, 2, 3], ok: true } };
      await partner.post(`/${id}/test`, { payload }).expect(200);
      await partner.post(`/${id}/test`, { payload }).expect(200);
      const [first, second] = await signed.waitFor(2);
      expect(first.json).toEqual(payload);
      expect(first.body.toString('utf8')).toBe(JSON.stringify(payload));
      expect(first.headers['x-cs-event-id']).not.toBe(second.headers['x-cs-event-id']);
      expect(second.verified).toEqual({ cs: true, standard: true });
    });

    it("answers a receiver's failure as such, still with 200", async () => {
      const id = (await partner.post('', minimal({ payload_url: signed.url, secret })).expect(201)).body.id;
      signed.setBehaviour({ status: 503, body: 'down for maintenance' });
      const res = await partner.post(`/${id}/test`).expect(200);
      expect(res.body).toMatchObject({ success: false, status: 503, response_body: 'down for maintenance', error_class: 'http', error: 'HTTP 503' });
    });

    it('answers a connection failure without a status', async () => {
      const id = (await partner.post('', minimal({ payload_url: 'http://127.0.0.1:9/closed' })).expect(201)).body.id;
      const res = await partner.post(`/${id}/test`).expect(200);
      expect(res.body).toMatchObject({ success: false, status: null, response_body: null, error_class: 'connect' });
      expect(res.body.error).toEqual(expect.any(String));
    });

    it('tests a disabled subscription too', async () => {
      const id = (await partner.post('', minimal({ payload_url: signed.url, secret, enabled: false })).expect(201)).body.id;
      const res = await partner.post(`/${id}/test`).expect(200);
      expect(res.body.success).toBe(true);
      await signed.waitFor(1);
    });

    it('names the organization in the User-Agent when the subscription has no creator', async () => {
      const row = await createSubscription(t.dataSource, { organizationId: tree.customers[0].id, payloadUrl: signed.url, secret, createdBy: null });
      await partner.post(`/${row.id}/test`).expect(200);
      const [got] = await signed.waitFor(1);
      expect(got.headers['user-agent']).toBe(`CS-Hookshot/${tree.customers[0].id}`);
    });

    it("answers 404 to another partner testing this partner's subscription, sending nothing", async () => {
      const id = (await partner.post('', minimal({ payload_url: signed.url, secret })).expect(201)).body.id;
      await as('other').post(`/${id}/test`).expect(404);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(signed.received).toHaveLength(0);
    });
  });
});

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') out[name] = value;
  return out;
}

import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DeliverySignal } from '../../src/webhooks/delivery-signal.service';
import { DeliveryErrorClass, WebhookDeliveryAttempt } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { WebhookSubscription } from '../../src/webhooks/webhook-subscription.entity';
import { createTree, createUser, Tree } from '../factories/organizations';
import { createAttempt, createDeliveries, createDelivery, createSubscription, webhookSnapshot } from '../factories/webhooks';
import { errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

const ROUTE = '/api/webhooks/deliveries';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const BASE = new Date('2024-05-01T10:00:00.000Z');

type Json = Record<string, unknown>;
const at = (seconds: number): Date => new Date(BASE.getTime() + seconds * 1000);

describe('webhook deliveries API', () => {
  let t: TestApp;
  let tree: Tree;
  const auth: Record<'partner' | 'sub' | 'customer' | 'other', string> = { partner: '', sub: '', customer: '', other: '' };

  beforeAll(async () => {
    t = await createTestApp({ WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1,localhost', WEBHOOKS_WORKER_ENABLED: 'false' });
    tree = await createTree(t.dataSource);
    await createUser(t.dataSource, { organizationId: tree.subPartner.id, login: 'sub', password: 'sub-password' });
    await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'customer', password: 'customer-password' });
    auth.partner = cyberAppAuth('partner', tree.password);
    auth.sub = cyberAppAuth('sub', 'sub-password');
    auth.customer = cyberAppAuth('customer', 'customer-password');
    auth.other = cyberAppAuth('other', 'other-password');
  });
  afterAll(() => t.close());

  const as = (who: keyof typeof auth) => ({
    get: (path: string) => request(t.server).get(`${ROUTE}${path}`).set('X-CyberApp-Auth', auth[who]),
    delete: (path: string) => request(t.server).delete(`${ROUTE}${path}`).set('X-CyberApp-Auth', auth[who]),
    post: (path: string) => request(t.server).post(`${ROUTE}${path}`).set('X-CyberApp-Auth', auth[who]),
  });
  const partner = as('partner');
  const deliveries = () => t.dataSource.getRepository(WebhookDelivery);
  const attempts = () => t.dataSource.getRepository(WebhookDeliveryAttempt);
  const newSubscription = (organizationId: string = tree.partner.id) => createSubscription(t.dataSource, { organizationId });

  describe('listing', () => {
    let sub: WebhookSubscription;
    let rows: WebhookDelivery[];

    beforeAll(async () => {
      sub = await newSubscription(tree.customers[0].id);
      // 0 succeeded user.created, 1 failed user.updated, 2 pending user.created, 3 succeeded user.deleted, 4 delivering user.created
      const plan: Array<[DeliveryState, string]> = [
        [DeliveryState.Succeeded, 'user.created'],
        [DeliveryState.Failed, 'user.updated'],
        [DeliveryState.Pending, 'user.created'],
        [DeliveryState.Succeeded, 'user.deleted'],
        [DeliveryState.Delivering, 'user.created'],
      ];
      rows = await createDeliveries(t.dataSource, sub.id, plan.length, BASE, (i) => ({
        state: plan[i][0],
        eventType: plan[i][1],
        organizationId: tree.customers[0].id,
      }));
      await createAttempt(t.dataSource, { deliveryId: rows[1].id, attempt: 2, success: false, statusCode: null, errorClass: DeliveryErrorClass.Timeout, error: 'no answer', responseBody: null, startedAt: at(3) });
      await createAttempt(t.dataSource, { deliveryId: rows[1].id, attempt: 1, success: false, statusCode: 503, responseBody: 'busy', error: 'HTTP 503', startedAt: at(2) });
      await createAttempt(t.dataSource, { deliveryId: rows[0].id, attempt: 1, success: true, startedAt: at(1), durationMs: 7 });
    });

    const ids = (res: request.Response): string[] => res.body.items.map((i: Json) => i.id);
    const idsOf = (...indexes: number[]): string[] => indexes.map((i) => rows[i].id);

    it("lists a subscription's deliveries newest first, each with its attempts, oldest attempt first", async () => {
      const res = await partner.get(`?subscription_id=${sub.id}`).expect(200);
      expect(res.body.total).toBe(5);
      expect(ids(res)).toEqual(idsOf(4, 3, 2, 1, 0));
      const failed = res.body.items[3];
      expect(failed).toEqual({
        id: rows[1].id,
        subscription_id: sub.id,
        event_id: rows[1].eventId,
        event_type: 'user.updated',
        organization_id: tree.customers[0].id,
        payload: rows[1].payload,
        state: 'failed',
        attempt_count: 1,
        next_attempt_at: expect.stringMatching(ISO),
        last_status: 500,
        last_error: 'HTTP 500',
        redelivery_of: null,
        created_at: at(1).toISOString(),
        updated_at: expect.stringMatching(ISO),
        completed_at: at(1).toISOString(),
        attempts: [
          { attempt: 1, started_at: at(2).toISOString(), duration_ms: 12, status_code: 503, response_body: 'busy', error_class: 'http', error: 'HTTP 503', success: false, request: null },
          { attempt: 2, started_at: at(3).toISOString(), duration_ms: 12, status_code: null, response_body: null, error_class: 'timeout', error: 'no answer', success: false, request: null },
        ],
      });
      expect(res.body.items[4].attempts).toEqual([expect.objectContaining({ attempt: 1, success: true, status_code: 200, duration_ms: 7 })]);
      expect(res.body.items[0].attempts).toEqual([]);
    });

    it('filters by event type', async () => {
      expect(ids(await partner.get(`?subscription_id=${sub.id}&event_type=user.created`).expect(200))).toEqual(idsOf(4, 2, 0));
    });

    it('filters by success: true for succeeded, false for failed', async () => {
      expect(ids(await partner.get(`?subscription_id=${sub.id}&success=true`).expect(200))).toEqual(idsOf(3, 0));
      expect(ids(await partner.get(`?subscription_id=${sub.id}&success=false`).expect(200))).toEqual(idsOf(1));
    });

    it('filters by state', async () => {
      expect(ids(await partner.get(`?subscription_id=${sub.id}&state=pending`).expect(200))).toEqual(idsOf(2));
      expect(ids(await partner.get(`?subscription_id=${sub.id}&state=delivering`).expect(200))).toEqual(idsOf(4));
    });

    it('filters by time: since inclusive, until exclusive', async () => {
      const since = encodeURIComponent(at(1).toISOString());
      const until = encodeURIComponent(at(3).toISOString());
      expect(ids(await partner.get(`?subscription_id=${sub.id}&since=${since}&until=${until}`).expect(200))).toEqual(idsOf(2, 1));
      expect(ids(await partner.get(`?subscription_id=${sub.id}&since=${since}`).expect(200))).toEqual(idsOf(4, 3, 2, 1));
      expect(ids(await partner.get(`?subscription_id=${sub.id}&until=${until}`).expect(200))).toEqual(idsOf(2, 1, 0));
    });

    it('accepts a time with an offset', async () => {
      const since = encodeURIComponent('2024-05-01T12:00:03+02:00');
      expect(ids(await partner.get(`?subscription_id=${sub.id}&since=${since}`).expect(200))).toEqual(idsOf(4, 3));
    });

    it('combines filters', async () => {
      const since = encodeURIComponent(at(1).toISOString());
      expect(ids(await partner.get(`?subscription_id=${sub.id}&event_type=user.created&since=${since}&state=pending`).expect(200))).toEqual(idsOf(2));
    });

    it('pages with limit and offset', async () => {
      const first = await partner.get(`?subscription_id=${sub.id}&limit=2`).expect(200);
      const rest = await partner.get(`?subscription_id=${sub.id}&limit=2&offset=2`).expect(200);
      const last = await partner.get(`?subscription_id=${sub.id}&limit=2&offset=4`).expect(200);
      expect([...ids(first), ...ids(rest), ...ids(last)]).toEqual(idsOf(4, 3, 2, 1, 0));
      expect(first.body.total).toBe(5);
    });

    it('pages by key with before: the deliveries after the given one, newest first, and the total of those', async () => {
      const first = await partner.get(`?subscription_id=${sub.id}&limit=2`).expect(200);
      const second = await partner.get(`?subscription_id=${sub.id}&limit=2&before=${rows[3].id}`).expect(200);
      const last = await partner.get(`?subscription_id=${sub.id}&limit=2&before=${rows[1].id}`).expect(200);
      expect([...ids(first), ...ids(second), ...ids(last)]).toEqual(idsOf(4, 3, 2, 1, 0));
      expect([second.body.total, last.body.total]).toEqual([3, 1]);
      expect(ids(await partner.get(`?subscription_id=${sub.id}&before=${rows[0].id}`).expect(200))).toEqual([]);
    });

    it('refuses before with offset, and a before that is not a delivery the caller can see (400)', async () => {
      const both = await partner.get(`?subscription_id=${sub.id}&before=${rows[3].id}&offset=1`).expect(400);
      expect(both.body).toMatchObject(errorEnvelope('VALIDATION_FAILED'));
      expect(both.body.message).toBe('Invalid request: query.before and query.offset cannot be used together.');
      const unknown = await partner.get(`?before=${randomUUID()}`).expect(400);
      const foreign = await as('other').get(`?before=${rows[3].id}`).expect(400);
      expect(foreign.body.message).toBe('Invalid request: query.before must be the id of a delivery you can see.');
      expect(unknown.body.message).toBe(foreign.body.message);
    });

    it('filters by replayed: false leaves out the deliveries a redelivery was made of', async () => {
      const replaySub = await newSubscription(tree.customers[0].id);
      const [replayed, waiting] = await createDeliveries(t.dataSource, replaySub.id, 2, BASE, () => ({ state: DeliveryState.Failed }));
      const copy = await createDelivery(t.dataSource, { subscriptionId: replaySub.id, eventId: replayed.eventId, redeliveryOf: replayed.id, createdAt: at(10) });
      expect(ids(await partner.get(`?subscription_id=${replaySub.id}&success=false&replayed=false`).expect(200))).toEqual([waiting.id]);
      expect(ids(await partner.get(`?subscription_id=${replaySub.id}&replayed=true`).expect(200))).toEqual([replayed.id]);
      expect(ids(await partner.get(`?subscription_id=${replaySub.id}&replayed=false`).expect(200))).toEqual([copy.id, waiting.id]);
      await partner.get(`?replayed=maybe`).expect(400);
    });

    it('reads one delivery with its attempts', async () => {
      const res = await partner.get(`/${rows[1].id}`).expect(200);
      expect(res.body).toMatchObject({ id: rows[1].id, state: 'failed', payload: rows[1].payload });
      expect(res.body.attempts.map((a: Json) => a.attempt)).toEqual([1, 2]);
    });

    it("lists a partner the deliveries of its children's subscriptions, and nobody else's", async () => {
      const subPartnerSub = await newSubscription(tree.subCustomer.id);
      const mine = await createDelivery(t.dataSource, { subscriptionId: subPartnerSub.id });
      const otherSub = await newSubscription(tree.otherCustomer.id);
      const foreign = await createDelivery(t.dataSource, { subscriptionId: otherSub.id });
      const res = await partner.get('?limit=500').expect(200);
      expect(ids(res)).toEqual(expect.arrayContaining([...idsOf(0, 1, 2, 3, 4), mine.id]));
      expect(ids(res)).not.toContain(foreign.id);
      expect(res.body.total).toBe(res.body.items.length);
      const theirs = await as('other').get('?limit=500').expect(200);
      expect(ids(theirs)).toEqual([foreign.id]);
    });

    it("never shows a customer its partner's deliveries", async () => {
      const partnerSub = await newSubscription(tree.partner.id);
      const partnerDelivery = await createDelivery(t.dataSource, { subscriptionId: partnerSub.id, organizationId: tree.customers[0].id });
      const res = await as('customer').get('?limit=500').expect(200);
      expect(ids(res)).not.toContain(partnerDelivery.id);
      expect(ids(res)).toEqual(expect.arrayContaining(idsOf(0, 1, 2, 3, 4)));
      await as('customer').get(`/${partnerDelivery.id}`).expect(404);
      await as('customer').get(`?subscription_id=${partnerSub.id}`).expect(404);
    });

    it("answers 404 for another partner's subscription filter and delivery, as for unknown ones", async () => {
      const foreignFilter = await as('other').get(`?subscription_id=${sub.id}`).expect(404);
      const unknownFilter = await as('other').get(`?subscription_id=${randomUUID()}`).expect(404);
      expect(foreignFilter.body).toMatchObject(errorEnvelope('NOT_FOUND'));
      expect(foreignFilter.body.err_message).toBe(unknownFilter.body.err_message);
      const foreign = await as('other').get(`/${rows[0].id}`).expect(404);
      const unknown = await as('other').get(`/${randomUUID()}`).expect(404);
      expect({ ...foreign.body, response_id: null }).toEqual({ ...unknown.body, response_id: null });
    });
  });

  describe('deleting one', () => {
    it('deletes the delivery and its attempts (204)', async () => {
      const sub = await newSubscription();
      const [gone, kept] = await createDeliveries(t.dataSource, sub.id, 2, BASE);
      await createAttempt(t.dataSource, { deliveryId: gone.id });
      await createAttempt(t.dataSource, { deliveryId: kept.id });
      const res = await partner.delete(`/${gone.id}`).expect(204);
      expect(res.text).toBe('');
      expect(await deliveries().countBy({ id: gone.id })).toBe(0);
      expect(await attempts().countBy({ deliveryId: gone.id })).toBe(0);
      expect(await deliveries().countBy({ id: kept.id })).toBe(1);
      expect(await attempts().countBy({ deliveryId: kept.id })).toBe(1);
      await partner.get(`/${gone.id}`).expect(404);
    });

    it('deletes a pending delivery, so that it is never sent', async () => {
      const sub = await newSubscription();
      const pending = await createDelivery(t.dataSource, { subscriptionId: sub.id, state: DeliveryState.Pending });
      await partner.delete(`/${pending.id}`).expect(204);
      expect(await deliveries().countBy({ id: pending.id })).toBe(0);
    });

    it('refuses a delivery being sent (409), changing nothing', async () => {
      const sub = await newSubscription();
      const busy = await createDelivery(t.dataSource, { subscriptionId: sub.id, state: DeliveryState.Delivering });
      const before = await webhookSnapshot(t.dataSource);
      const res = await partner.delete(`/${busy.id}`).expect(409);
      expect(res.body).toMatchObject(errorEnvelope('CONFLICT'));
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });

    it("answers 404 for another partner's delivery, changing nothing", async () => {
      const sub = await newSubscription();
      const row = await createDelivery(t.dataSource, { subscriptionId: sub.id });
      const before = await webhookSnapshot(t.dataSource);
      await as('other').delete(`/${row.id}`).expect(404);
      await as('sub').delete(`/${row.id}`).expect(404);
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
    });
  });

  describe('deleting in bulk', () => {
    it("deletes a subscription's deliveries, leaving those being sent and other subscriptions' alone", async () => {
      const sub = await newSubscription();
      const neighbour = await newSubscription();
      const rows = await createDeliveries(t.dataSource, sub.id, 4, BASE, (i) => ({
        state: [DeliveryState.Succeeded, DeliveryState.Failed, DeliveryState.Pending, DeliveryState.Delivering][i],
      }));
      await createAttempt(t.dataSource, { deliveryId: rows[0].id });
      const other = await createDelivery(t.dataSource, { subscriptionId: neighbour.id, createdAt: BASE });
      const res = await partner.delete(`?subscription_id=${sub.id}`).expect(200);
      expect(res.body).toEqual({ deleted: 3 });
      expect((await deliveries().findBy({ subscriptionId: sub.id })).map((d) => d.id)).toEqual([rows[3].id]);
      expect(await attempts().countBy({ deliveryId: rows[0].id })).toBe(0);
      expect(await deliveries().countBy({ id: other.id })).toBe(1);
    });

    it('deletes only what was created before until', async () => {
      const sub = await newSubscription();
      const rows = await createDeliveries(t.dataSource, sub.id, 4, BASE);
      const res = await partner.delete(`?subscription_id=${sub.id}&until=${encodeURIComponent(at(2).toISOString())}`).expect(200);
      expect(res.body).toEqual({ deleted: 2 });
      const left = (await deliveries().findBy({ subscriptionId: sub.id })).map((d) => d.id).sort();
      expect(left).toEqual([rows[2].id, rows[3].id].sort());
    });

    it('narrows the deletion with the listing filters', async () => {
      const sub = await newSubscription();
      const rows = await createDeliveries(t.dataSource, sub.id, 4, BASE, (i) => ({
        state: i % 2 === 0 ? DeliveryState.Failed : DeliveryState.Succeeded,
        eventType: i < 2 ? 'user.created' : 'user.deleted',
      }));
      const res = await partner.delete(`?subscription_id=${sub.id}&success=false&event_type=user.created`).expect(200);
      expect(res.body).toEqual({ deleted: 1 });
      expect(await deliveries().countBy({ id: rows[0].id })).toBe(0);
      expect(await deliveries().countBy({ subscriptionId: sub.id })).toBe(3);
    });

    it('answers deleted: 0 when nothing matches', async () => {
      const sub = await newSubscription();
      const res = await partner.delete(`?subscription_id=${sub.id}`).expect(200);
      expect(res.body).toEqual({ deleted: 0 });
    });

    it("lets a partner clear its child's subscription, and answers 404 to anyone else", async () => {
      const sub = await newSubscription(tree.subCustomer.id);
      await createDeliveries(t.dataSource, sub.id, 2, BASE);
      const before = await webhookSnapshot(t.dataSource);
      await as('other').delete(`?subscription_id=${sub.id}`).expect(404);
      await as('customer').delete(`?subscription_id=${sub.id}`).expect(404);
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
      expect((await partner.delete(`?subscription_id=${sub.id}`).expect(200)).body).toEqual({ deleted: 2 });
    });
  });

  describe('redelivering', () => {
    let wakeups: number;
    let unsubscribe: () => void;

    beforeEach(() => {
      wakeups = 0;
      const s = t.app.get(DeliverySignal).deliveries$.subscribe(() => wakeups++);
      unsubscribe = () => s.unsubscribe();
    });
    afterEach(() => unsubscribe());

    it('records a new pending delivery of the same event with the exact payload, answers 202 and wakes the worker', async () => {
      const sub = await newSubscription(tree.customers[1].id);
      const original = await createDelivery(t.dataSource, {
        subscriptionId: sub.id,
        state: DeliveryState.Failed,
        attempts: 8,
        organizationId: tree.customers[1].id,
        eventType: 'tenant_mapping.written',
        payload: '{"b": 2,   "a": "\\u00e9t\u00e9", "n": 1.0}',
        createdAt: BASE,
      });
      await createAttempt(t.dataSource, { deliveryId: original.id, success: false });
      const started = Date.now();
      const res = await partner.post(`/${original.id}/redeliver`).expect(202);
      expect(res.body).toEqual({
        id: expect.stringMatching(UUID),
        subscription_id: sub.id,
        event_id: original.eventId,
        event_type: 'tenant_mapping.written',
        organization_id: tree.customers[1].id,
        payload: original.payload,
        state: 'pending',
        attempt_count: 0,
        next_attempt_at: expect.stringMatching(ISO),
        last_status: null,
        last_error: null,
        redelivery_of: original.id,
        created_at: expect.stringMatching(ISO),
        updated_at: expect.stringMatching(ISO),
        completed_at: null,
        attempts: [],
      });
      expect(res.body.id).not.toBe(original.id);
      const copy = await deliveries().findOneByOrFail({ id: res.body.id });
      expect(copy).toMatchObject({ eventId: original.eventId, payload: original.payload, state: 'pending', attempts: 0, redeliveryOf: original.id, lockedUntil: null });
      expect(Buffer.from(copy.payload, 'utf8').equals(Buffer.from(original.payload, 'utf8'))).toBe(true);
      expect(copy.nextAttemptAt.getTime()).toBeGreaterThanOrEqual(started - 1000);
      expect(copy.nextAttemptAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      expect(await deliveries().findOneByOrFail({ id: original.id })).toMatchObject({ state: 'failed', attempts: 8 });
      expect(await attempts().countBy({ deliveryId: res.body.id })).toBe(0);
      expect(wakeups).toBe(1);
      // The redelivery is the newest delivery of the subscription.
      const listed = await partner.get(`?subscription_id=${sub.id}`).expect(200);
      expect(listed.body.items.map((i: Json) => i.id)).toEqual([res.body.id, original.id]);
    });

    it('redelivers a redelivery, keeping the event id', async () => {
      const sub = await newSubscription();
      const original = await createDelivery(t.dataSource, { subscriptionId: sub.id });
      const first = await partner.post(`/${original.id}/redeliver`).expect(202);
      const second = await partner.post(`/${first.body.id}/redeliver`).expect(202);
      expect(second.body).toMatchObject({ event_id: original.eventId, redelivery_of: first.body.id });
    });

    it('refuses a delivery of a disabled subscription (409), changing nothing', async () => {
      const sub = await createSubscription(t.dataSource, { organizationId: tree.partner.id, enabled: false, disabledReason: 'The receiver answered 410 Gone.' });
      const original = await createDelivery(t.dataSource, { subscriptionId: sub.id });
      const before = await webhookSnapshot(t.dataSource);
      const res = await partner.post(`/${original.id}/redeliver`).expect(409);
      expect(res.body).toMatchObject(errorEnvelope('CONFLICT'));
      expect(res.body.err_message).toContain('disabled');
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
      expect(wakeups).toBe(0);
    });

    it("answers 404 for another partner's delivery, changing nothing", async () => {
      const sub = await newSubscription();
      const original = await createDelivery(t.dataSource, { subscriptionId: sub.id });
      const before = await webhookSnapshot(t.dataSource);
      await as('other').post(`/${original.id}/redeliver`).expect(404);
      await as('customer').post(`/${original.id}/redeliver`).expect(404);
      await partner.post(`/${randomUUID()}/redeliver`).expect(404);
      expect(await webhookSnapshot(t.dataSource)).toEqual(before);
      expect(wakeups).toBe(0);
    });
  });
});

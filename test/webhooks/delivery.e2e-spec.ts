import { randomUUID } from 'node:crypto';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { DeliveryErrorClass, WebhookDeliveryAttempt } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import {
  WebhookFilter,
  WebhookFilterMatch,
  WebhookFilterMode,
  WebhookScope,
  WebhookSubscription,
} from '../../src/webhooks/webhook-subscription.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import request from 'supertest';
import { callback } from '../setup/callback-client';
import { cyberAppAuth } from '../setup/protocol';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { createOrganization, createTree, Tree } from '../factories/organizations';
import { createDelivery, createSubscription } from '../factories/webhooks';
import { emit, eventually } from '../setup/eventually';

const ENV = {
  WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1',
  WEBHOOKS_POLL_MS: '100',
  WEBHOOKS_BACKOFF_BASE_MS: '50',
  WEBHOOKS_BACKOFF_MAX_MS: '200',
  WEBHOOKS_MAX_ATTEMPTS: '3',
  WEBHOOKS_TIMEOUT_MS: '1000',
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
};

interface SubscriptionInput {
  organizationId: string;
  url: string;
  scope?: WebhookScope;
  filters?: WebhookFilter[];
  secret?: string | null;
  enabled?: boolean;
}

const subscribe = (t: TestApp, { url, ...input }: SubscriptionInput): Promise<WebhookSubscription> =>
  createSubscription(t.dataSource, { ...input, payloadUrl: url });

const deliveriesOf = (t: TestApp, subscriptionId: string) =>
  t.dataSource.getRepository(WebhookDelivery).find({ where: { subscriptionId }, order: { createdAt: 'ASC' } });
const attemptsOf = (t: TestApp, deliveryId: string) =>
  t.dataSource.getRepository(WebhookDeliveryAttempt).find({ where: { deliveryId }, order: { attempt: 'ASC' } });

describe('webhook delivery', () => {
  let t: TestApp;
  let tree: Tree;
  const receivers: WebhookReceiver[] = [];

  async function receiver(secret?: string): Promise<WebhookReceiver> {
    const r = await startWebhookReceiver({ secret });
    receivers.push(r);
    return r;
  }

  beforeEach(async () => {
    t = await createTestApp(ENV);
    tree = await createTree(t.dataSource);
  });

  afterEach(async () => {
    await t.close();
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  it('delivers the event as signed JSON with both header families, verified by the standardwebhooks package', async () => {
    const secret = generateSecret();
    const r = await receiver(secret);
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: r.url, secret });
    const eventId = await emit(t, 'user.created', tree.partner.id, { login: 'alice' });

    const [got] = await r.waitFor(1);
    expect(got.verified).toEqual({ cs: true, standard: true });
    expect(got.headers).toMatchObject({
      'content-type': 'application/json',
      'x-cs-event-id': eventId,
      'x-cs-event': 'user.created',
      'user-agent': `CS-Hookshot/${tree.partner.id}`,
      'webhook-id': eventId,
    });
    expect(got.json).toEqual({
      id: eventId,
      type: 'user.created',
      organization_id: tree.partner.id,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      data: { login: 'alice' },
    });
    const [delivery] = await eventually(() => deliveriesOf(t, sub.id), (d) => d[0]?.state === DeliveryState.Succeeded);
    // The bytes signed and sent are the stored payload, byte for byte.
    expect(got.body.toString('utf8')).toBe(delivery.payload);
    expect(await attemptsOf(t, delivery.id)).toEqual([
      // The request is kept as it went out: every header the receiver got, signatures included.
      expect.objectContaining({ attempt: 1, statusCode: 200, success: true, errorClass: null, responseBody: 'ok', requestUrl: r.url, requestHeaders: { ...got.headers } }),
    ]);
  });

  it('reaches each subscription whose scope covers the event organization, and no other', async () => {
    const r = await receiver();
    const root = await createOrganization(t.dataSource, { name: 'Root' });
    const child = await createOrganization(t.dataSource, { parentId: root.id, name: 'Child partner' });
    const customer = await createOrganization(t.dataSource, { parentId: child.id, kind: OrganizationKind.Customer, name: 'Leaf' });
    const subs = {
      rootGlobal: await subscribe(t, { organizationId: root.id, url: r.url, scope: WebhookScope.Global }),
      rootDomain: await subscribe(t, { organizationId: root.id, url: r.url, scope: WebhookScope.Domain }),
      rootLocal: await subscribe(t, { organizationId: root.id, url: r.url, scope: WebhookScope.Local }),
      childDomain: await subscribe(t, { organizationId: child.id, url: r.url, scope: WebhookScope.Domain }),
      childLocal: await subscribe(t, { organizationId: child.id, url: r.url, scope: WebhookScope.Local }),
      customerLocal: await subscribe(t, { organizationId: customer.id, url: r.url, scope: WebhookScope.Local }),
      strangerDomain: await subscribe(t, { organizationId: tree.other.id, url: r.url, scope: WebhookScope.Domain }),
    };
    const leafEvent = await emit(t, 'user.created', customer.id);
    const childEvent = await emit(t, 'user.updated', child.id);
    const orphanEvent = await emit(t, 'connector.run.completed', null);

    await r.waitFor(4 + 4 + 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rows = await t.dataSource.getRepository(WebhookDelivery).find();
    const names = (eventId: string) =>
      rows
        .filter((d) => d.eventId === eventId)
        .map((d) => Object.entries(subs).find(([, s]) => s.id === d.subscriptionId)?.[0])
        .sort();
    expect(names(leafEvent)).toEqual(['childDomain', 'customerLocal', 'rootDomain', 'rootGlobal']);
    expect(names(childEvent)).toEqual(['childDomain', 'childLocal', 'rootDomain', 'rootGlobal']);
    expect(names(orphanEvent)).toEqual(['rootGlobal']);
    expect(r.received).toHaveLength(9);
    expect(r.received.filter((d) => d.headers['x-cs-event-id'] === leafEvent)).toHaveLength(4);
  });

  it('applies include and exclude filters by event type', async () => {
    const r = await receiver();
    const users = await subscribe(t, {
      organizationId: tree.partner.id,
      url: r.url,
      filters: [
        { mode: WebhookFilterMode.Include, match: WebhookFilterMatch.Prefix, value: 'user.' },
        { mode: WebhookFilterMode.Exclude, match: WebhookFilterMatch.Suffix, value: '.deleted' },
      ],
    });
    const notConnector = await subscribe(t, {
      organizationId: tree.partner.id,
      url: r.url,
      filters: [{ mode: WebhookFilterMode.Exclude, match: WebhookFilterMatch.Contains, value: 'connector' }],
    });
    for (const type of ['user.created', 'user.deleted', 'enablement.reset', 'connector.run.completed']) await emit(t, type, tree.partner.id);
    await r.waitFor(1 + 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await deliveriesOf(t, users.id)).map((d) => d.eventType)).toEqual(['user.created']);
    expect((await deliveriesOf(t, notConnector.id)).map((d) => d.eventType).sort()).toEqual(['enablement.reset', 'user.created', 'user.deleted']);
  });

  it('delivers the events a callback writes, in the callback transaction, to the partner subscription', async () => {
    const r = await receiver();
    await subscribe(t, { organizationId: tree.partner.id, url: r.url, scope: WebhookScope.Domain });
    await callback(t, { login: 'partner', password: tree.password }, 'enablement.write', { acronis_tenant_id: randomUUID() }).expect(200);
    const [got] = await r.waitFor(1);
    expect(got.headers['x-cs-event']).toBe('enablement.written');
    expect(got.json).toMatchObject({ type: 'enablement.written', organization_id: tree.partner.id });
  });

  it('retries 5xx and connection failures with backoff, recording every attempt, until one succeeds', async () => {
    const r = await receiver();
    // The connection closed twice: the sender retries a reused keep-alive connection once at once, within the attempt.
    r.setBehaviour((_d, index) => (index === 0 ? { status: 500, body: 'boom' } : index <= 2 ? 'close' : { status: 204 }));
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: r.url });
    const eventId = await emit(t, 'user.created', tree.partner.id);
    const got = await r.waitFor(4);
    expect(new Set(got.map((d) => d.headers['webhook-id']))).toEqual(new Set([eventId]));
    const [delivery] = await eventually(() => deliveriesOf(t, sub.id), (d) => d[0]?.state === DeliveryState.Succeeded);
    expect(delivery).toMatchObject({ attempts: 3, lastStatus: 204, lastError: null });
    expect(await attemptsOf(t, delivery.id)).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: 500, success: false, errorClass: DeliveryErrorClass.Http, responseBody: 'boom' }),
      expect.objectContaining({ attempt: 2, statusCode: null, success: false, errorClass: DeliveryErrorClass.Connect }),
      expect.objectContaining({ attempt: 3, statusCode: 204, success: true, errorClass: null }),
    ]);
  });

  it('records an answer holding NUL bytes with U+FFFD in their place, and the delivery as succeeded', async () => {
    const r = await receiver();
    r.setBehaviour({ status: 200, body: 'ok\u0000fine' });
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: r.url });
    await emit(t, 'user.created', tree.partner.id);
    const [delivery] = await eventually(() => deliveriesOf(t, sub.id), (d) => d[0]?.state === DeliveryState.Succeeded);
    expect(await attemptsOf(t, delivery.id)).toEqual([expect.objectContaining({ success: true, responseBody: 'ok\uFFFDfine' })]);
  });

  it('waits at least as long as Retry-After says before trying again', async () => {
    const r = await receiver();
    r.setBehaviour((_d, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    await subscribe(t, { organizationId: tree.partner.id, url: r.url });
    await emit(t, 'user.created', tree.partner.id);
    const [first, second] = await r.waitFor(2, 5000);
    expect(second.receivedAt.getTime() - first.receivedAt.getTime()).toBeGreaterThanOrEqual(950);
  });

  it('gives up after the configured tries, leaving a failed delivery', async () => {
    const r = await receiver();
    r.setBehaviour({ status: 503 });
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: r.url });
    await emit(t, 'user.created', tree.partner.id);
    const [delivery] = await eventually(() => deliveriesOf(t, sub.id), (d) => d[0]?.state === DeliveryState.Failed);
    expect(delivery).toMatchObject({ attempts: 3, lastStatus: 503, lastError: expect.stringContaining('http') });
    expect(delivery.completedAt).toBeInstanceOf(Date);
    expect(await attemptsOf(t, delivery.id)).toHaveLength(3);
    expect(r.received).toHaveLength(3);
  });

  it('replays a dead-lettered delivery through the API: a new delivery with the same event id, the same bytes and webhook-id', async () => {
    const r = await receiver();
    r.setBehaviour({ status: 500 });
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: r.url });
    const eventId = await emit(t, 'user.deleted', tree.partner.id, { id: 'u1' });
    const [dead] = await eventually(() => deliveriesOf(t, sub.id), (d) => d[0]?.state === DeliveryState.Failed);
    expect(r.received).toHaveLength(3);

    r.setBehaviour({ status: 200 });
    const res = await request(t.server)
      .post(`/api/webhooks/deliveries/${dead.id}/redeliver`)
      .set('X-CyberApp-Auth', cyberAppAuth('partner', tree.password))
      .expect(202);
    expect(res.body).toMatchObject({ event_id: eventId, redelivery_of: dead.id, state: 'pending' });
    const [, again] = await eventually(() => deliveriesOf(t, sub.id), (d) => d.length === 2 && d[1].state === DeliveryState.Succeeded);
    expect(again).toMatchObject({ id: res.body.id, eventId, payload: dead.payload, attempts: 1 });
    const replayed = r.received[3];
    expect(replayed.headers['webhook-id']).toBe(eventId);
    expect(replayed.body.toString('utf8')).toBe(dead.payload);
    expect(replayed.verified).toEqual({ cs: null, standard: null });
  });

  it('disables the subscription on 410 Gone, without retrying, and fans no further events out to it', async () => {
    const r = await receiver();
    r.setBehaviour({ status: 410 });
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: r.url });
    await emit(t, 'user.created', tree.partner.id);
    const [delivery] = await eventually(() => deliveriesOf(t, sub.id), (d) => d[0]?.state === DeliveryState.Failed);
    expect(delivery.attempts).toBe(1);
    const stored = await t.dataSource.getRepository(WebhookSubscription).findOneByOrFail({ id: sub.id });
    expect(stored).toMatchObject({ enabled: false, disabledReason: expect.stringContaining('410') });
    await emit(t, 'user.updated', tree.partner.id);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await deliveriesOf(t, sub.id)).toHaveLength(1);
    expect(r.received).toHaveLength(1);
  });

  it('records a webhook.subscription.disabled event when a 410 disables a subscription, once, for the other subscribers', async () => {
    const gone = await receiver();
    gone.setBehaviour({ status: 410 });
    const watcher = await receiver();
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: gone.url, filters: [{ mode: WebhookFilterMode.Include, match: WebhookFilterMatch.Prefix, value: 'user.' }] });
    await subscribe(t, { organizationId: tree.partner.id, url: watcher.url, filters: [{ mode: WebhookFilterMode.Include, match: WebhookFilterMatch.Prefix, value: 'webhook.subscription.' }] });
    await emit(t, 'user.created', tree.partner.id);
    await eventually(() => deliveriesOf(t, sub.id), (d) => d[0]?.state === DeliveryState.Failed);
    await watcher.waitFor(1);
    const [notice] = watcher.received;
    const body = JSON.parse(notice.body.toString('utf8')) as { type: string; organization_id: string; data: Record<string, unknown> };
    expect(body).toMatchObject({
      type: 'webhook.subscription.disabled',
      organization_id: tree.partner.id,
      data: { subscription_id: sub.id, organization_id: tree.partner.id, payload_url: gone.url, reason: expect.stringContaining('410 Gone') },
    });
    const events: Array<{ type: string }> = await t.dataSource.query(`SELECT type FROM events WHERE type = 'webhook.subscription.disabled'`);
    expect(events).toHaveLength(1);
  });

  it('does not follow redirects', async () => {
    const target = await receiver();
    const r = await receiver();
    r.setBehaviour({ redirect: target.url });
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: r.url });
    await emit(t, 'user.created', tree.partner.id);
    const [delivery] = await eventually(() => deliveriesOf(t, sub.id), (d) => d[0]?.state === DeliveryState.Failed);
    expect(delivery.lastStatus).toBe(302);
    expect(target.received).toHaveLength(0);
  });

  it('keeps delivering to others while one endpoint hangs', async () => {
    // A timeout far longer than the fast deliveries may take on a busy machine.
    await t.close();
    t = await createTestApp({ ...ENV, WEBHOOKS_TIMEOUT_MS: '8000' });
    tree = await createTree(t.dataSource);
    const hanging = await receiver();
    hanging.setBehaviour('hang');
    const fast = await receiver();
    const slow = await subscribe(t, { organizationId: tree.partner.id, url: hanging.url });
    const quick = await subscribe(t, { organizationId: tree.partner.id, url: fast.url });
    const started = Date.now();
    for (let i = 0; i < 30; i++) await emit(t, 'user.created', tree.partner.id, { i });
    await fast.waitFor(30, 5000);
    // All 30 reached the fast receiver well before a single attempt at the hanging one timed out.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(hanging.received.length).toBeGreaterThan(0);
    await eventually(
      () => deliveriesOf(t, quick.id),
      (d) => d.filter((x) => x.state === DeliveryState.Succeeded).length === 30,
      2000,
    );
    const [first] = await eventually(
      async () => attemptsOf(t, (await deliveriesOf(t, slow.id))[0].id),
      (a) => a.length > 0,
      15_000,
    );
    expect(first).toMatchObject({ errorClass: DeliveryErrorClass.Timeout, statusCode: null, success: false });
  });

  it('sends nothing it claimed ahead to the old URL of a subscription re-pointed meanwhile', async () => {
    await t.close();
    t = await createTestApp({ ...ENV, WEBHOOKS_TIMEOUT_MS: '4000', WEBHOOKS_CONCURRENCY_PER_SUBSCRIPTION: '2' });
    tree = await createTree(t.dataSource);
    const hanging = await receiver();
    hanging.setBehaviour('hang');
    const moved = await receiver();
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: hanging.url });
    for (let i = 0; i < 6; i++) await emit(t, 'user.created', tree.partner.id, { i });
    // Two attempts hang (the subscription's share); two more are claimed ahead, waiting for a slot.
    await hanging.waitFor(2, 5000);
    await eventually(
      () => deliveriesOf(t, sub.id),
      (d) => d.filter((x) => x.state === DeliveryState.Delivering).length === 4,
      5000,
    );
    await t.dataSource.getRepository(WebhookSubscription).update({ id: sub.id }, { payloadUrl: moved.url });
    // What was claimed ahead is handed back within a second and claimed again with the new URL: once
    // the hung attempts time out (4 s), everything, their retries included, goes to the new URL.
    await moved.waitFor(6, 10_000);
    expect(hanging.received).toHaveLength(2);
    const rows = await eventually(
      () => deliveriesOf(t, sub.id),
      (d) => d.every((x) => x.state === DeliveryState.Succeeded),
      5000,
    );
    // Attempts count only what was sent: one for the four, two for the two that hung first.
    expect(rows.map((x) => x.attempts).sort()).toEqual([1, 1, 1, 1, 2, 2]);
  });

  it('counts only 200 as delivered with WEBHOOKS_SUCCESS_200_ONLY (CloudStack rule)', async () => {
    await t.close();
    t = await createTestApp({ ...ENV, WEBHOOKS_SUCCESS_200_ONLY: 'true' });
    tree = await createTree(t.dataSource);
    const r = await receiver();
    r.setBehaviour((_d, index) => (index === 0 ? { status: 201 } : { status: 200 }));
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: r.url });
    await emit(t, 'user.created', tree.partner.id);
    const [delivery] = await eventually(() => deliveriesOf(t, sub.id), (d) => d[0]?.state === DeliveryState.Succeeded);
    expect(delivery.attempts).toBe(2);
  });

  it('fans nothing out to a disabled subscription and holds its pending deliveries until it is enabled again', async () => {
    const r = await receiver();
    const sub = await subscribe(t, { organizationId: tree.partner.id, url: r.url, enabled: false });
    await emit(t, 'user.created', tree.partner.id);
    const held = await createDelivery(t.dataSource, {
      subscriptionId: sub.id,
      eventType: 'user.updated',
      organizationId: tree.partner.id,
      payload: '{"held":true}',
      state: DeliveryState.Pending,
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(r.received).toHaveLength(0);
    expect(await deliveriesOf(t, sub.id)).toEqual([expect.objectContaining({ id: held.id, state: DeliveryState.Pending })]);

    await t.dataSource.getRepository(WebhookSubscription).update({ id: sub.id }, { enabled: true });
    const [got] = await r.waitFor(1);
    expect(got.body.toString()).toBe('{"held":true}');
  });
});

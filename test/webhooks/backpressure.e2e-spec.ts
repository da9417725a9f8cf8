import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { OutboxBackpressure } from '../../src/events/outbox-backpressure';
import { User } from '../../src/users/user.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { createTree, mapOrganization, Tree } from '../factories/organizations';
import { createDelivery, createSubscription } from '../factories/webhooks';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { callback } from '../setup/callback-client';
import { eventually } from '../setup/eventually';
import { createTestApp, TestApp } from '../setup/create-test-app';

/**
 * Backpressure (docs/architecture.md): while the deliveries the worker claims are late
 * (WEBHOOKS_MAX_LAG_MS) and the process is busy, write callbacks wait until the worker has caught
 * up, for CALLBACKS_BACKPRESSURE_MAX_WAIT_MS at most. A late delivery is made by inserting one due a
 * minute ago; a busy process by keeping this (the app's) event loop 90% in use.
 */
const ENV = {
  WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1',
  WEBHOOKS_POLL_MS: '100',
  WEBHOOKS_MAX_LAG_MS: '200',
  WEBHOOKS_TIMEOUT_MS: '20000',
  // One attempt at a time per subscription: a backlog of late deliveries stays late while it drains.
  WEBHOOKS_CONCURRENCY_PER_SUBSCRIPTION: '1',
  METRICS_ENABLED: 'true',
  WEBHOOKS_SHUTDOWN_GRACE_MS: '200',
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
};

/** Keeps the event loop busy about 90% of the time until stopped (the app runs in this process). */
function busyLoop(): () => void {
  const timer = setInterval(() => {
    const end = Date.now() + 18;
    while (Date.now() < end) {
      // busy
    }
  }, 20);
  return () => clearInterval(timer);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('backpressure: write callbacks wait while deliveries are behind', () => {
  let t: TestApp;
  let tree: Tree;
  let tenant: string;
  let r: WebhookReceiver;
  let stopBusy: () => void = () => undefined;

  async function start(env: Record<string, string>): Promise<void> {
    t = await createTestApp({ ...ENV, ...env });
    tree = await createTree(t.dataSource);
    tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
    r = await startWebhookReceiver();
  }
  afterEach(async () => {
    stopBusy();
    await r.close();
    await t.close();
  });

  /** Three deliveries to one subscription, due a minute ago: the worker claims each of them late. */
  async function lateBacklog(): Promise<WebhookDelivery[]> {
    const sub = await createSubscription(t.dataSource, { organizationId: tree.partner.id, payloadUrl: r.url, secret: null });
    const createdAt = new Date(Date.now() - 60_000);
    const late: WebhookDelivery[] = [];
    for (let i = 0; i < 3; i++) late.push(await createDelivery(t.dataSource, { subscriptionId: sub.id, organizationId: tree.partner.id, state: DeliveryState.Pending, createdAt }));
    return late;
  }
  /** Until the gateway holds writers back (a late claim reported, the busy loop sampled). */
  const holdingBack = () => eventually(() => Promise.resolve(t.app.get(OutboxBackpressure).isHoldingBack()), (held) => held);
  const write = (login: string) => callback(t, { login: 'partner', password: tree.password }, 'user_write', { login, name: login, email: `${login}@example.test` }, { tenantId: tenant });
  const userExists = async (login: string) => (await t.dataSource.manager.countBy(User, { login })) === 1;
  const statesOf = async (late: WebhookDelivery[]) =>
    (await t.dataSource.getRepository(WebhookDelivery).findBy(late.map((d) => ({ id: d.id })))).map((d) => d.state).sort();
  /** `cyberapp_backpressure_wait_seconds`: writers held back, and their total wait. */
  async function waits(): Promise<{ count: number; sum: number }> {
    const text = (await request(t.server).get('/metrics').expect(200)).text;
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { count: value('cyberapp_backpressure_wait_seconds_count'), sum: value('cyberapp_backpressure_wait_seconds_sum') };
  }

  it('holds a write back on a busy process until the worker has claimed the late backlog, then runs it once', async () => {
    await start({ CALLBACKS_BACKPRESSURE_MAX_WAIT_MS: '10000' });
    // Each late delivery takes 2.5 s: the last is claimed about 5 s after the first, inside the 10 s bound.
    r.setBehaviour({ status: 200, body: 'ok', delayMs: 2500 });
    stopBusy = busyLoop();
    const late = await lateBacklog();
    await r.waitFor(1);
    await holdingBack();
    const answer = write('held').then(async (res) => ({ res, states: await statesOf(late) }));
    await sleep(300);
    // Held back: the write has not run while late deliveries wait.
    expect(await statesOf(late)).toContain(DeliveryState.Pending);
    expect(await userExists('held')).toBe(false);
    const { res, states } = await answer;
    expect(res.status).toBe(200);
    expect(await userExists('held')).toBe(true);
    // It went once the worker had caught up: none of the backlog was still waiting to be claimed.
    expect(states).not.toContain(DeliveryState.Pending);
    expect(states).toContain(DeliveryState.Succeeded);
    stopBusy();
    const held = await waits();
    expect(held.count).toBe(1);
    expect(held.sum).toBeGreaterThan(0.5);
    // Released by the worker's report, before its 10 s bound.
    expect(held.sum).toBeLessThan(9);
    await r.waitFor(3);
  });

  it('lets a held-back write go after CALLBACKS_BACKPRESSURE_MAX_WAIT_MS, though deliveries are still behind', async () => {
    await start({ CALLBACKS_BACKPRESSURE_MAX_WAIT_MS: '300' });
    r.setBehaviour('hang');
    stopBusy = busyLoop();
    const late = await lateBacklog();
    await r.waitFor(1);
    await holdingBack();
    await write('waited').expect(200);
    expect(await userExists('waited')).toBe(true);
    expect(await statesOf(late)).toContain(DeliveryState.Pending);
    stopBusy();
    const held = await waits();
    expect(held.count).toBe(1);
    expect(held.sum).toBeGreaterThanOrEqual(0.29);
  });

  it('never holds back a read, or the replay of a write already answered', async () => {
    await start({ CALLBACKS_BACKPRESSURE_MAX_WAIT_MS: '10000' });
    const requestId = randomUUID();
    const as = { login: 'partner', password: tree.password };
    const payload = { login: 'early', name: 'Early', email: 'early@example.test' };
    const first = await callback(t, as, 'user_write', payload, { tenantId: tenant, requestId }).expect(200);
    r.setBehaviour('hang');
    stopBusy = busyLoop();
    await lateBacklog();
    await r.waitFor(1);
    await holdingBack();
    expect((await callback(t, as, 'user_write', payload, { tenantId: tenant, requestId }).expect(200)).body).toEqual(first.body);
    await callback(t, as, 'users_read', {}, { tenantId: tenant }).expect(200);
    stopBusy();
    expect((await waits()).count).toBe(0);
    expect(await t.dataSource.manager.countBy(User, { login: 'early' })).toBe(1);
  });

  it('never holds a write back on an idle process: a slow receiver is not the writers\u2019 doing', async () => {
    await start({ CALLBACKS_BACKPRESSURE_MAX_WAIT_MS: '10000' });
    r.setBehaviour('hang');
    const late = await lateBacklog();
    await r.waitFor(1);
    await sleep(300);
    await write('free').expect(200);
    expect(await userExists('free')).toBe(true);
    expect(await statesOf(late)).toContain(DeliveryState.Pending);
    expect((await waits()).count).toBe(0);
  });

  it('holds nothing back with WEBHOOKS_MAX_LAG_MS=0, however late and busy', async () => {
    await start({ CALLBACKS_BACKPRESSURE_MAX_WAIT_MS: '10000', WEBHOOKS_MAX_LAG_MS: '0' });
    r.setBehaviour('hang');
    stopBusy = busyLoop();
    const late = await lateBacklog();
    await r.waitFor(1);
    await sleep(300);
    await write('unlimited').expect(200);
    expect(await statesOf(late)).toContain(DeliveryState.Pending);
    stopBusy();
    expect((await waits()).count).toBe(0);
  });
});

import { Logger } from '@nestjs/common';
import request from 'supertest';
import { DomainEvent } from '../../src/events/event.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { SUBSCRIPTION_DISABLED_EVENT, WebhookHealthJob } from '../../src/webhooks/webhook-health.job';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { WebhookFilterMatch, WebhookFilterMode, WebhookSubscription } from '../../src/webhooks/webhook-subscription.entity';
import { createTree, Tree } from '../factories/organizations';
import { createSubscription } from '../factories/webhooks';
import { ReceivedDelivery, startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { emit, eventually } from '../setup/eventually';
import { cyberAppAuth } from '../setup/protocol';
import { TEST_DB } from '../setup/test-database';

jest.setTimeout(60_000);

const HOUR = 3_600_000;
const AFTER_HOURS = 120;

/**
 * Endpoint health with real receivers and a clock the test controls (WebhookHealthJob.check(now)):
 * a subscription whose every attempt fails for WEBHOOKS_AUTO_DISABLE_AFTER_HOURS is disabled, its
 * pending deliveries held, and enabling it again sends them, oldest first, once each.
 */
describe(`webhook endpoint health on ${TEST_DB}`, () => {
  let t: TestApp;
  let tree: Tree;
  let failing: WebhookReceiver;
  let watcher: WebhookReceiver;
  let job: WebhookHealthJob;
  let subscription: WebhookSubscription;
  let watcherSubscription: WebhookSubscription;
  const secret = generateSecret();
  /** The failing receiver answers 503 while this is true, 200 otherwise. */
  let down = true;

  beforeAll(async () => {
    failing = await startWebhookReceiver({ secret });
    failing.setBehaviour(() => (down ? { status: 503, body: 'down' } : { status: 200, body: 'ok' }));
    watcher = await startWebhookReceiver();
    t = await createTestApp({
      WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1',
      WEBHOOKS_POLL_MS: '50',
      WEBHOOKS_BACKOFF_BASE_MS: '50',
      WEBHOOKS_BACKOFF_MAX_MS: '150',
      WEBHOOKS_MAX_ATTEMPTS: '100',
      WEBHOOKS_TIMEOUT_MS: '2000',
      // One attempt at a time to a subscription: the receiver sees the order they were started in.
      WEBHOOKS_CONCURRENCY_PER_SUBSCRIPTION: '1',
      WEBHOOKS_AUTO_DISABLE_AFTER_HOURS: String(AFTER_HOURS),
    });
    job = t.app.get(WebhookHealthJob);
    tree = await createTree(t.dataSource);
    subscription = await createSubscription(t.dataSource, { organizationId: tree.partner.id, name: 'flaky', payloadUrl: failing.url, secret, createdBy: tree.partnerUser.id });
    // Another subscription of the same organization, for the disabled events only.
    watcherSubscription = await createSubscription(t.dataSource, {
      organizationId: tree.partner.id,
      name: 'watcher',
      payloadUrl: watcher.url,
      filters: [{ mode: WebhookFilterMode.Include, match: WebhookFilterMatch.Exact, value: SUBSCRIPTION_DISABLED_EVENT }],
    });
  });

  afterAll(async () => {
    await t.close();
    await failing.close();
    await watcher.close();
  });

  const row = () => t.dataSource.getRepository(WebhookSubscription).findOneByOrFail({ id: subscription.id });
  const deliveries = () => t.dataSource.getRepository(WebhookDelivery).find({ where: { subscriptionId: subscription.id }, order: { createdAt: 'ASC', id: 'ASC' } });
  const failingSince = async () => (await row()).failingSince;

  it('marks the subscription failing from its first failed attempt, and keeps that time while every attempt fails', async () => {
    expect((await row()).failingSince).toBeNull();
    const started = Date.now();
    await emit(t, 'user.created', tree.partner.id, { n: 0 });
    const since = await eventually(failingSince, (value) => value !== null);
    expect(since!.getTime()).toBeGreaterThanOrEqual(started - 1000);
    await failing.waitFor(failing.received.length + 2);
    await eventually(() => t.dataSource.getRepository(WebhookDelivery).findOneByOrFail({ subscriptionId: subscription.id }), (d) => d.attempts >= 3);
    expect((await failingSince())?.getTime()).toBe(since!.getTime());
  });

  it('does not disable it before the configured time has passed', async () => {
    const since = (await failingSince())!;
    expect(await job.check(new Date(since.getTime() + AFTER_HOURS * HOUR - 60_000))).toBe(0);
    expect(await row()).toMatchObject({ enabled: true, disabledAt: null, disabledReason: null });
  });

  it('clears the failing state on one successful attempt, so the time starts again', async () => {
    down = false;
    await eventually(deliveries, (rows) => rows[0]?.state === DeliveryState.Succeeded);
    await eventually(failingSince, (value) => value === null);
    expect(await job.check(new Date(Date.now() + 10 * AFTER_HOURS * HOUR))).toBe(0);
    expect((await row()).enabled).toBe(true);
  });

  it('disables it once every attempt has failed for the configured time, with an event other subscriptions receive and a warning', async () => {
    down = true;
    const warn = jest.spyOn(Logger.prototype, 'warn');
    for (let n = 1; n <= 5; n++) await emit(t, 'user.updated', tree.partner.id, { n });
    const since = (await eventually(failingSince, (value) => value !== null))!;
    await eventually(deliveries, (rows) => rows.length === 6 && rows.slice(1).every((d) => d.attempts >= 1));

    const now = new Date(since.getTime() + AFTER_HOURS * HOUR + 1000);
    expect(await job.check(now)).toBe(1);
    const disabled = await row();
    expect(disabled).toMatchObject({ enabled: false, failingSince: since, disabledAt: now });
    expect(disabled.disabledReason).toBe(`every attempt failed since ${since.toISOString()} (more than ${AFTER_HOURS} hours); disabled at ${now.toISOString()}`);
    // Checked again (or by another replica): nothing more happens.
    expect(await job.check(new Date(now.getTime() + 60_000))).toBe(0);

    const events = await t.dataSource.getRepository(DomainEvent).findBy({ type: SUBSCRIPTION_DISABLED_EVENT });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      organizationId: tree.partner.id,
      data: {
        subscription_id: subscription.id,
        organization_id: tree.partner.id,
        name: 'flaky',
        payload_url: failing.url,
        failing_since: since.toISOString(),
        disabled_at: now.toISOString(),
        reason: disabled.disabledReason,
      },
    });
    const [received] = await watcher.waitFor(1);
    expect(received.headers['x-cs-event']).toBe(SUBSCRIPTION_DISABLED_EVENT);
    expect(received.json).toMatchObject({ id: events[0].id, type: SUBSCRIPTION_DISABLED_EVENT, organization_id: tree.partner.id, data: { subscription_id: subscription.id, name: 'flaky' } });
    expect(watcher.received).toHaveLength(1);
    expect(warn.mock.calls.some((call) => String(call[1]).startsWith(`webhook subscription ${subscription.id} disabled: every attempt failed since`))).toBe(true);
    warn.mockRestore();

    const api = await request(t.server).get(`/api/webhooks/${subscription.id}`).set('X-CyberApp-Auth', cyberAppAuth('partner', tree.password)).expect(200);
    expect(api.body).toMatchObject({ enabled: false, disabled_reason: disabled.disabledReason, disabled_at: now.toISOString(), failing_since: since.toISOString() });
    expect(watcherSubscription.enabled).toBe(true);
  });

  it('holds the pending deliveries of the disabled subscription instead of failing them', async () => {
    // What was claimed before the disabling may still go out once; then nothing.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const seen = failing.received.length;
    const before = await deliveries();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(failing.received).toHaveLength(seen);
    const held = (await deliveries()).slice(1);
    expect(held.map((d) => d.state)).toEqual(Array(5).fill(DeliveryState.Pending));
    expect(held.map((d) => d.attempts)).toEqual(before.slice(1).map((d) => d.attempts));
  });

  it('resumes the held deliveries when enabled again through the API, the oldest first, each delivered once', async () => {
    const held = (await deliveries()).slice(1);
    // The retry times they were left with run newest first: enabling must not follow them.
    for (const [i, d] of held.entries()) {
      await t.dataSource.getRepository(WebhookDelivery).update({ id: d.id }, { nextAttemptAt: new Date(Date.now() + 60_000 - i * 1000) });
    }
    down = false;
    const seen = failing.received.length;
    const res = await request(t.server)
      .patch(`/api/webhooks/${subscription.id}`)
      .set('X-CyberApp-Auth', cyberAppAuth('partner', tree.password))
      .send({ enabled: true })
      .expect(200);
    expect(res.body).toMatchObject({ enabled: true, disabled_reason: null, disabled_at: null, failing_since: null });

    const got = (await failing.waitFor(seen + held.length)).slice(seen);
    const done = await eventually(deliveries, (rows) => rows.every((d) => d.state === DeliveryState.Succeeded));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(failing.received).toHaveLength(seen + held.length);
    expect(got.map(eventIdOf)).toEqual(held.map((d) => d.eventId));
    expect(got.every((r) => r.verified.cs === true && r.verified.standard === true)).toBe(true);
    expect(done.map((d) => d.state)).toEqual(Array(6).fill(DeliveryState.Succeeded));
    // Every event got exactly one successful attempt.
    const successes = new Map<string, number>();
    for (const r of failing.received.filter((_, i) => i >= seen)) successes.set(eventIdOf(r), (successes.get(eventIdOf(r)) ?? 0) + 1);
    expect([...successes.values()]).toEqual(Array(5).fill(1));
    expect(await row()).toMatchObject({ enabled: true, disabledReason: null, disabledAt: null, failingSince: null });
  });
});

const eventIdOf = (r: ReceivedDelivery): string => String(r.headers['webhook-id']);

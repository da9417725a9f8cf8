import request from 'supertest';
import { ConnectorRunner } from '../../src/connector/connector-runner.service';
import { TransactionRunner } from '../../src/database/transaction-runner.service';
import { OutboxService } from '../../src/events/outbox.service';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { DeliveryState } from '../../src/webhooks/webhook-delivery.entity';
import { createItems } from '../factories/connector-items';
import { createOrganization, createTree, createUser, mapOrganization, Tree } from '../factories/organizations';
import { createDelivery, createSubscription } from '../factories/webhooks';
import { replies, startFakeAcronisApi } from '../fakes/fake-acronis-api';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { callback, errorEnvelope } from '../setup/callback-client';
import { connectorEnv } from '../setup/connector-env';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth, envelope } from '../setup/protocol';

const ENABLEMENT_READ = 'cti.a.p.acgw.callback.v1.0~a.p.enablement.read.v1.0';
const USERS_READ = 'cti.a.p.acgw.callback.v1.0~vendor.app.users_read.v1.0';

const WEBHOOK_ENV = {
  WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1',
  WEBHOOKS_POLL_MS: '50',
  WEBHOOKS_BACKOFF_BASE_MS: '20',
  WEBHOOKS_BACKOFF_MAX_MS: '50',
  WEBHOOKS_MAX_ATTEMPTS: '3',
  WEBHOOKS_TIMEOUT_MS: '1000',
};

/** One sample of the exposition: `name{labels} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the sample with exactly these labels; undefined when there is none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}

async function scrape(t: TestApp): Promise<Sample[]> {
  const res = await request(t.server).get('/metrics').expect(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parse(res.text);
}

async function eventually(t: TestApp, done: (samples: Sample[]) => boolean, timeoutMs = 10_000): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const samples = await scrape(t);
    if (done(samples)) return samples;
    if (Date.now() > deadline) throw new Error(`metrics condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('GET /metrics', () => {
  describe('without a token', () => {
    let t: TestApp;
    let tree: Tree;
    const receivers: WebhookReceiver[] = [];

    beforeAll(async () => {
      t = await createTestApp({ ...WEBHOOK_ENV, AUTH_FAILURES_PER_IDENTITY_ADDRESS: '2', AUTH_FAILURE_WINDOW_SECONDS: '60' });
      tree = await createTree(t.dataSource);
    });

    afterAll(async () => {
      await t.close();
      await Promise.all(receivers.map((r) => r.close()));
    });

    it('serves process metrics in the Prometheus text format', async () => {
      const samples = await scrape(t);
      expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
      expect(valueOf(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
      expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    });

    it('counts callbacks by callback ID and status, with a latency histogram per callback ID', async () => {
      const as = { login: 'partner', password: tree.password };
      await callback(t, as, 'enablement.read').expect(200);
      await callback(t, as, 'enablement.read').expect(200);
      await callback(t, as, 'users_read', {}).expect(200);
      await callback(t, { login: 'other', password: 'wrong' }, 'users_read', {}).expect(401);

      const samples = await scrape(t);
      expect(valueOf(samples, 'cyberapp_callbacks_total', { callback_id: ENABLEMENT_READ, status: '200' })).toBe(2);
      expect(valueOf(samples, 'cyberapp_callbacks_total', { callback_id: USERS_READ, status: '200' })).toBe(1);
      expect(valueOf(samples, 'cyberapp_callbacks_total', { callback_id: USERS_READ, status: '401' })).toBe(1);
      expect(valueOf(samples, 'cyberapp_callback_duration_seconds_count', { callback_id: ENABLEMENT_READ })).toBe(2);
      expect(valueOf(samples, 'cyberapp_callback_duration_seconds_sum', { callback_id: ENABLEMENT_READ })).toBeGreaterThan(0);
      expect(valueOf(samples, 'cyberapp_callback_duration_seconds_bucket', { callback_id: ENABLEMENT_READ, le: '+Inf' })).toBe(2);
    });

    it('labels callback IDs that are not served, and bodies that cannot be read, as unknown', async () => {
      const as = cyberAppAuth('partner', tree.password);
      const invented = envelope('enablement.read');
      (invented.context as Record<string, unknown>).callback_id = `cti.a.p.acgw.callback.v1.0~made.up.${Date.now()}.v1.0`;
      await request(t.server).post('/callback').set('X-CyberApp-Auth', as).send(invented).expect(400);
      await request(t.server).post('/callback').set('X-CyberApp-Auth', as).set('content-type', 'text/plain').send('hello').expect(415);

      const samples = await scrape(t);
      expect(valueOf(samples, 'cyberapp_callbacks_total', { callback_id: 'unknown', status: '400' })).toBe(1);
      expect(valueOf(samples, 'cyberapp_callbacks_total', { callback_id: 'unknown', status: '415' })).toBe(1);
      const ids = new Set(samples.filter((s) => s.name === 'cyberapp_callbacks_total').map((s) => s.labels.callback_id));
      expect([...ids].every((id) => id === 'unknown' || id.startsWith('cti.a.p.acgw.callback.v1.0~'))).toBe(true);
      expect([...ids].some((id) => id.includes('made.up'))).toBe(false);
    });

    it('counts authentication failures by reason', async () => {
      const before = valueOf(await scrape(t), 'cyberapp_auth_failures_total', { reason: 'invalid_credentials' }) ?? 0;
      const { login } = await createUser(t.dataSource, { organizationId: tree.partner.id, password: 'right-password' });
      // AUTH_FAILURES_PER_IDENTITY_ADDRESS=2: two wrong passwords, then the login is blocked from this address.
      await callback(t, { login, password: 'nope-1' }, 'enablement.read').expect(401);
      await callback(t, { login, password: 'nope-2' }, 'enablement.read').expect(401);
      await callback(t, { login, password: 'nope-3' }, 'enablement.read').expect(429);
      await request(t.server).get('/api/webhooks').expect(401);

      const samples = await scrape(t);
      expect(valueOf(samples, 'cyberapp_auth_failures_total', { reason: 'invalid_credentials' })).toBe(before + 3);
      expect(valueOf(samples, 'cyberapp_auth_failures_total', { reason: 'rate_limited' })).toBe(1);
    });

    it('counts webhook deliveries by outcome, as a real receiver answers them', async () => {
      const receiver = await startWebhookReceiver();
      receivers.push(receiver);
      // The first attempt is refused (503: retry later), the second accepted.
      receiver.setBehaviour((_delivery, index) => (index === 0 ? { status: 503 } : { status: 200, body: 'ok' }));
      await createSubscription(t.dataSource, { organizationId: tree.partner.id, payloadUrl: receiver.url });
      await t.app.get(TransactionRunner).run((em) => t.app.get(OutboxService).record(em, { type: 'user.created', organizationId: tree.partner.id, data: {} }));

      await receiver.waitFor(2);
      const samples = await eventually(t, (s) => valueOf(s, 'cyberapp_webhook_deliveries_total', { outcome: 'succeeded' }) === 1);
      expect(valueOf(samples, 'cyberapp_webhook_deliveries_total', { outcome: 'retry' })).toBe(1);
      expect(valueOf(samples, 'cyberapp_webhook_deliveries_total', { outcome: 'failed' })).toBeUndefined();
    });

    it('counts a 410 from the receiver as gone', async () => {
      const receiver = await startWebhookReceiver();
      receivers.push(receiver);
      receiver.setBehaviour({ status: 410 });
      const other = await createOrganization(t.dataSource);
      await createSubscription(t.dataSource, { organizationId: other.id, payloadUrl: receiver.url });
      await t.app.get(TransactionRunner).run((em) => t.app.get(OutboxService).record(em, { type: 'user.deleted', organizationId: other.id, data: {} }));

      await receiver.waitFor(1);
      await eventually(t, (s) => valueOf(s, 'cyberapp_webhook_deliveries_total', { outcome: 'gone' }) === 1);
    });
  });

  describe('queue gauges', () => {
    let t: TestApp;

    // No worker: the inserted deliveries stay where the test puts them.
    beforeAll(async () => {
      t = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false' });
    });

    afterAll(() => t.close());

    it('reads the depth and the oldest due age of the webhook queue, and the pending connector items, when scraped', async () => {
      let samples = await scrape(t);
      expect(valueOf(samples, 'cyberapp_webhook_queue_depth')).toBe(0);
      expect(valueOf(samples, 'cyberapp_webhook_oldest_due_age_seconds')).toBe(0);
      expect(valueOf(samples, 'cyberapp_connector_pending_items')).toBe(0);

      const org = await createOrganization(t.dataSource);
      const enabled = await createSubscription(t.dataSource, { organizationId: org.id });
      const disabled = await createSubscription(t.dataSource, { organizationId: org.id, enabled: false });
      const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000);
      // Due: counted (the oldest two minutes old).
      await createDelivery(t.dataSource, { subscriptionId: enabled.id, state: DeliveryState.Pending, createdAt: minutesAgo(2) });
      await createDelivery(t.dataSource, { subscriptionId: enabled.id, state: DeliveryState.Pending, createdAt: minutesAgo(1) });
      await createDelivery(t.dataSource, { subscriptionId: enabled.id, state: DeliveryState.Pending, createdAt: new Date() });
      // Not counted: not yet due, of a disabled subscription, finished, in flight.
      await createDelivery(t.dataSource, { subscriptionId: enabled.id, state: DeliveryState.Pending, createdAt: new Date(Date.now() + 60_000) });
      await createDelivery(t.dataSource, { subscriptionId: disabled.id, state: DeliveryState.Pending, createdAt: minutesAgo(10) });
      await createDelivery(t.dataSource, { subscriptionId: enabled.id, state: DeliveryState.Succeeded, createdAt: minutesAgo(10) });
      await createDelivery(t.dataSource, { subscriptionId: enabled.id, state: DeliveryState.Failed, createdAt: minutesAgo(10) });
      await createDelivery(t.dataSource, { subscriptionId: enabled.id, state: DeliveryState.Delivering, createdAt: minutesAgo(10) });
      await createItems(t.dataSource, [{ organizationId: org.id }, { organizationId: org.id }]);

      samples = await scrape(t);
      expect(valueOf(samples, 'cyberapp_webhook_queue_depth')).toBe(3);
      const age = valueOf(samples, 'cyberapp_webhook_oldest_due_age_seconds') ?? 0;
      expect(age).toBeGreaterThanOrEqual(119);
      expect(age).toBeLessThan(180);
      expect(valueOf(samples, 'cyberapp_connector_pending_items')).toBe(2);
    });
  });

  it('counts connector items by state, as pushes leave them', async () => {
    const api = await startFakeAcronisApi();
    const t = await createTestApp(connectorEnv(api, { CONNECTOR_CONCURRENCY: '1' }));
    try {
      const customer = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer });
      await mapOrganization(t.dataSource, customer.id);
      const unmapped = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer });
      await createItems(t.dataSource, [{ organizationId: customer.id }, { organizationId: customer.id }, { organizationId: unmapped.id }]);
      let samples = await scrape(t);
      expect(valueOf(samples, 'cyberapp_connector_items', { state: 'pending' })).toBe(3);
      expect(valueOf(samples, 'cyberapp_connector_items', { state: 'sent' })).toBe(0);
      // One push is refused for good (400), one is asked to come back (429) and then accepted.
      api.enqueue('pushes', replies.json(400, { error: 'validation_error' }));
      api.enqueue('pushes', replies.rateLimited(0));

      const run = await t.app.get(ConnectorRunner).runOnce('cli');
      expect(run).toEqual(expect.objectContaining({ sent: 1, failed: 1 }));
      samples = await scrape(t);
      expect(valueOf(samples, 'cyberapp_connector_items', { state: 'sent' })).toBe(1);
      expect(valueOf(samples, 'cyberapp_connector_items', { state: 'failed' })).toBe(1);
      expect(valueOf(samples, 'cyberapp_connector_items', { state: 'sending' })).toBe(0);
      // The unmapped organization's item waits.
      expect(valueOf(samples, 'cyberapp_connector_items', { state: 'pending' })).toBe(1);
      expect(valueOf(samples, 'cyberapp_connector_pending_items')).toBe(1);
    } finally {
      await t.close();
      await api.close();
    }
  });

  describe('with METRICS_TOKEN', () => {
    const token = 'scrape-token-0123456789';
    let t: TestApp;

    beforeAll(async () => {
      t = await createTestApp({ METRICS_TOKEN: token });
    });

    afterAll(() => t.close());

    it('answers 401 in the error envelope without a token', async () => {
      const res = await request(t.server).get('/metrics').expect(401);
      expect(res.body).toEqual(errorEnvelope('UNAUTHENTICATED'));
      expect(res.headers['www-authenticate']).toBe('Bearer');
    });

    it('answers 401 in the error envelope with a wrong token, or a right one in another scheme', async () => {
      for (const authorization of [`Bearer ${token}x`, 'Bearer scrape-token', `Basic ${token}`, token]) {
        const res = await request(t.server).get('/metrics').set('Authorization', authorization).expect(401);
        expect(res.body).toEqual(errorEnvelope('UNAUTHENTICATED'));
      }
    });

    it('serves the metrics with the token', async () => {
      const res = await request(t.server).get('/metrics').set('Authorization', `Bearer ${token}`).expect(200);
      expect(res.text).toContain('cyberapp_webhook_queue_depth');
    });
  });

  it('answers 404 like an unknown route with METRICS_ENABLED=false', async () => {
    const t = await createTestApp({ METRICS_ENABLED: 'false' });
    try {
      const res = await request(t.server).get('/metrics').expect(404);
      expect(res.body).toEqual(errorEnvelope('NOT_FOUND'));
    } finally {
      await t.close();
    }
  });

  it('counts a callback refused for its platform JWT under jwt', async () => {
    const t = await createTestApp({ CALLBACK_JWT: 'required' });
    try {
      await request(t.server).post('/callback').send(envelope('enablement.read')).expect(401);
      await request(t.server).post('/callback').set('Authorization', 'Bearer not-a-jwt').send(envelope('enablement.read')).expect(401);
      const samples = await scrape(t);
      expect(valueOf(samples, 'cyberapp_auth_failures_total', { reason: 'jwt' })).toBe(2);
      expect(valueOf(samples, 'cyberapp_callbacks_total', { callback_id: ENABLEMENT_READ, status: '401' })).toBe(2);
    } finally {
      await t.close();
    }
  });

  it('keeps each application its own registry', async () => {
    const a = await createTestApp();
    const b = await createTestApp();
    try {
      await request(a.server).post('/callback').send(envelope('enablement.read')).expect(401);
      expect(valueOf(await scrape(a), 'cyberapp_callbacks_total', { callback_id: ENABLEMENT_READ, status: '401' })).toBe(1);
      expect(valueOf(await scrape(b), 'cyberapp_callbacks_total', { callback_id: ENABLEMENT_READ, status: '401' })).toBeUndefined();
    } finally {
      await a.close();
      await b.close();
    }
  });
});

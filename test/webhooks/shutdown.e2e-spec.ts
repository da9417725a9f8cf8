import { hash } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import { DataSource } from 'typeorm';
import { readDatabaseConfig } from '../../src/config/database.config';
import { buildDataSourceOptions } from '../../src/database/data-source-options';
import { DomainEvent } from '../../src/events/event.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { createOrganization, createUser } from '../factories/organizations';
import { createSubscription } from '../factories/webhooks';
import { freePort, httpCall, killAllServices, SERVICE_ENV, ServiceProcess } from '../process/service-process';
import { cyberAppAuth, envelope } from '../setup/protocol';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';

// The service runs under ts-node in its own process: seconds to start.
jest.setTimeout(120_000);

const EVENTS = 20;

describe(`SIGTERM with webhook deliveries and callbacks in flight (${TEST_DB})`, () => {
  let db: TestDatabase;
  let ds: DataSource;
  let slow: WebhookReceiver;
  let hanging: WebhookReceiver;
  let agent: Agent;

  beforeEach(async () => {
    db = await createTestDatabase();
    agent = new Agent({ keepAlive: true });
    slow = await startWebhookReceiver();
    hanging = await startWebhookReceiver();
    hanging.setBehaviour('hang');
  });

  afterEach(async () => {
    agent.destroy();
    await killAllServices();
    await ds?.destroy();
    await Promise.all([slow.close(), hanging.close()]);
    await db.drop();
  });

  it('answers every callback, records the deliveries that finish within the grace, gives the rest back, and leaves nothing locked', async () => {
    const port = await freePort();
    const service = ServiceProcess.start({
      ...SERVICE_ENV,
      ...db.env,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8',
      WEBHOOKS_POLL_MS: '100',
      WEBHOOKS_TIMEOUT_MS: '30000',
      WEBHOOKS_SHUTDOWN_GRACE_MS: '1500',
      SHUTDOWN_TIMEOUT_MS: '10000',
    });
    await service.waitUntilListening();
    ds = await new DataSource({ ...buildDataSourceOptions(readDatabaseConfig(db.env)), migrationsRun: false }).initialize();
    const org = await createOrganization(ds);
    const password = 'pw';
    const user = await createUser(ds, { organizationId: org.id, passwordHash: await hash(password, { memoryCost: 4096, timeCost: 1, parallelism: 1 }) });
    const auth = cyberAppAuth(user.login, password);
    const slowSub = await createSubscription(ds, { organizationId: org.id, payloadUrl: slow.url });
    const hangingSub = await createSubscription(ds, { organizationId: org.id, payloadUrl: hanging.url });
    // The slow receiver answers 400 ms after each request: attempts are in flight when the signal lands.
    slow.setBehaviour({ status: 200, body: 'ok', delayMs: 400 });

    const now = Date.now();
    await ds.getRepository(DomainEvent).insert(
      Array.from({ length: EVENTS }, (_, i) => ({
        id: randomUUID(),
        type: 'user.updated',
        organizationId: org.id,
        data: { i },
        createdAt: new Date(now + i),
        dispatchedAt: null,
      })),
    );
    await hanging.waitFor(1, 20_000);
    await slow.waitFor(1, 20_000);

    // Callbacks keep arriving on kept-alive connections across the signal.
    let stop = false;
    let signalledAt = Infinity;
    const results: Array<Promise<number>> = [];
    const load = (async () => {
      while (!stop) {
        const sentAt = Date.now();
        const call = httpCall(port, { path: '/callback', headers: { 'x-cyberapp-auth': auth }, body: envelope('enablement.read'), agent }).then(
          (r) => r.status,
          (e: unknown) => {
            throw new Error(`${String(e)} sent ${sentAt - signalledAt} ms after SIGTERM, failed ${Date.now() - signalledAt} ms after`);
          },
        );
        results.push(call);
        await call.catch(() => undefined);
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    signalledAt = Date.now();
    service.child.kill('SIGTERM');
    const exit = await service.waitForExit(20_000);
    stop = true;
    await load;

    expect(exit).toEqual({ code: 0, signal: null });
    // Every request that reached the service was answered (200, or 503 once it was closing); after
    // the listener closed, connecting is refused, which a client (or proxy) can safely retry elsewhere.
    const settled = await Promise.allSettled(results);
    const answered = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    expect(failures.filter((f) => !f.includes('ECONNREFUSED'))).toEqual([]);
    expect(answered.filter((status) => status !== 200 && status !== 503)).toEqual([]);
    expect(answered.filter((status) => status === 200).length).toBeGreaterThan(0);

    const deliveries = await ds.getRepository(WebhookDelivery).find();
    expect(deliveries.filter((d) => d.state === DeliveryState.Delivering)).toEqual([]);
    expect(deliveries.filter((d) => d.lockedUntil !== null)).toEqual([]);
    // What the slow receiver got was answered within the grace and recorded as delivered.
    const slowReceived = new Set(slow.received.map((r) => r.headers['webhook-id']));
    for (const d of deliveries.filter((x) => x.subscriptionId === slowSub.id && slowReceived.has(x.eventId))) {
      expect(d.state).toBe(DeliveryState.Succeeded);
    }
    // The hanging receiver's attempts were given back, due again.
    const interrupted = deliveries.filter((d) => d.subscriptionId === hangingSub.id && d.lastError?.startsWith('interrupted'));
    expect(interrupted.length).toBeGreaterThan(0);
    for (const d of interrupted) expect(d.state).toBe(DeliveryState.Pending);
    expect(service.output).toContain('given back for another attempt');
    // Claimed ahead but never sent: given back as if never claimed, with no attempt counted.
    const hangingReceived = new Set(hanging.received.map((r) => r.headers['webhook-id']));
    const unsent = deliveries.filter((d) => !(d.subscriptionId === slowSub.id ? slowReceived : hangingReceived).has(d.eventId));
    expect(unsent.length).toBeGreaterThan(0);
    expect(unsent.filter((d) => d.state !== DeliveryState.Pending || d.attempts !== 0 || d.lastError !== null)).toEqual([]);
  });
});

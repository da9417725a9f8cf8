import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { DataSource } from 'typeorm';
import { TransactionRunner } from '../../src/database/transaction-runner.service';
import { OutboxService } from '../../src/events/outbox.service';
import { WebhookDeliveryAttempt } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { openDataSource } from '../cli/cli-process';
import { createSubscription } from '../factories/webhooks';
import { createOrganization } from '../factories/organizations';
import { ServiceProcess, sleep, startWorkerService } from '../process/service-process';
import { createTestApp } from '../setup/create-test-app';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';

const EVENTS = 200;
const CONCURRENCY = 16;
/** The receiver's answer time: long enough that a kill always catches attempts in flight. */
const ANSWER_AFTER_MS = 300;
/** The attempt timeout; claims are leases of WEBHOOKS_LEASE_MS (6 s), renewed while held (docs/work-core.md). */
const TIMEOUT_MS = 1000;
const KILL_AFTER = 60;

jest.setTimeout(180_000);

interface Received {
  eventId: string;
  webhookId: string;
  /** The `standardwebhooks` package accepts the signature. */
  verified: boolean;
}

/** A real receiver on 127.0.0.1 that answers 200 `ANSWER_AFTER_MS` after each request. */
async function startSlowReceiver(secret: string): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const verifier = new Webhook(secret);
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let verified = true;
      try {
        verifier.verify(body, flat(req.headers));
      } catch {
        verified = false;
      }
      received.push({ eventId: (JSON.parse(body.toString('utf8')) as { id: string }).id, webhookId: String(req.headers['webhook-id']), verified });
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.writeHead(200).end('ok');
      }, ANSWER_AFTER_MS);
      timers.add(timer);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function flat(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') out[name] = value;
  return out;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what()} not reached within ${timeoutMs} ms`);
    await sleep(100);
  }
}

describe('webhook delivery worker killed with attempts in flight, then started again', () => {
  let database: TestDatabase;
  let receiver: Awaited<ReturnType<typeof startSlowReceiver>>;
  let eventIds: string[];
  let ds: DataSource | undefined;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    const secret = generateSecret();
    receiver = await startSlowReceiver(secret);
    database = await createTestDatabase();
    // Schema, subscription and the undispatched outbox events through the app (worker off), which
    // is then closed: the service processes have the database to themselves.
    const t = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false' }, database);
    try {
      const organization = await createOrganization(t.dataSource);
      await createSubscription(t.dataSource, { organizationId: organization.id, payloadUrl: receiver.url, secret });
      const outbox = t.app.get(OutboxService);
      eventIds = await t.app.get(TransactionRunner).run(async (em) => {
        const ids: string[] = [];
        for (let n = 0; n < EVENTS; n++) ids.push((await outbox.record(em, { type: 'user.created', organizationId: organization.id, data: { n } })).id);
        return ids;
      });
    } finally {
      await t.close();
    }
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.kill()));
    await ds?.destroy();
    await receiver?.close();
    await database?.drop();
  });

  async function startService(): Promise<ServiceProcess> {
    const service = await startWorkerService(database, {
      WEBHOOKS_CONCURRENCY: String(CONCURRENCY),
      WEBHOOKS_CONCURRENCY_PER_SUBSCRIPTION: String(CONCURRENCY),
      WEBHOOKS_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    services.push(service);
    return service;
  }

  it('delivers every event, repeating only the attempts in flight at the kill, with the same webhook-id', async () => {
    const first = await startService();
    const deadline = Date.now() + 90_000;
    while (receiver.received.length < KILL_AFTER) {
      if (Date.now() > deadline) throw new Error(`only ${receiver.received.length} deliveries within 90 s:\n${first.output}`);
      if (first.child.exitCode !== null) throw new Error(`the service exited early:\n${first.output}`);
      await sleep(2);
    }
    await first.kill();
    const receivedAtKill = receiver.received.length;

    ds = await openDataSource(database);
    const deliveries = ds.getRepository(WebhookDelivery);
    const atKill = await deliveries.find();
    expect(atKill).toHaveLength(EVENTS);
    const delivering = new Set(atKill.filter((d) => d.state === DeliveryState.Delivering).map((d) => d.eventId));
    const succeededAtKill = new Set(atKill.filter((d) => d.state === DeliveryState.Succeeded).map((d) => d.eventId));
    // Received but not recorded: the attempts the kill cut off. Each is still claimed.
    const inFlightAtKill = new Set(receiver.received.map((r) => r.eventId).filter((id) => !succeededAtKill.has(id)));
    // Claims held: the attempts in flight and as many claimed ahead. Reached the receiver but not
    // recorded: the attempts in flight and the outcomes not written yet. Each at most 2 × concurrency.
    expect(delivering.size).toBeGreaterThan(0);
    expect(delivering.size).toBeLessThanOrEqual(2 * CONCURRENCY);
    expect(succeededAtKill.size).toBeLessThan(EVENTS);
    expect(inFlightAtKill.size).toBeGreaterThan(0);
    expect(inFlightAtKill.size).toBeLessThanOrEqual(2 * CONCURRENCY);
    expect([...inFlightAtKill].filter((id) => !delivering.has(id))).toEqual([]);
    expect(atKill.filter((d) => d.state !== DeliveryState.Delivering && d.state !== DeliveryState.Succeeded && d.state !== DeliveryState.Pending)).toEqual([]);

    // Restarted: the pending deliveries go out at once, the dead worker's claims once they expire.
    const second = await startService();
    const restartedAt = Date.now();
    await until(
      () => deliveries.countBy({ state: DeliveryState.Succeeded }),
      (n) => n === EVENTS,
      60_000,
      () => `all ${EVENTS} deliveries succeeded (service output:\n${second.output})`,
    );
    const finishedMs = Date.now() - restartedAt;
    // Nothing more is on its way.
    await sleep(500);
    await second.kill();

    const received = receiver.received;
    expect(received.filter((r) => r.webhookId !== r.eventId || !r.verified)).toEqual([]);
    expect(new Set(received.map((r) => r.eventId))).toEqual(new Set(eventIds));
    const times = new Map<string, number>();
    for (const r of received) times.set(r.eventId, (times.get(r.eventId) ?? 0) + 1);
    const repeated = [...times].filter(([, n]) => n > 1);
    expect(repeated.filter(([id, n]) => n !== 2 || !inFlightAtKill.has(id))).toEqual([]);
    expect(received).toHaveLength(EVENTS + repeated.length);

    const rows = await deliveries.find();
    expect(rows.filter((d) => d.state !== DeliveryState.Succeeded || d.completedAt === null)).toEqual([]);
    // Left delivering at the kill: claimed twice; every other delivery once.
    expect(rows.filter((d) => d.attempts !== (delivering.has(d.eventId) ? 2 : 1)).map((d) => [d.eventId, d.attempts])).toEqual([]);
    // The attempt a kill cuts off leaves no row; the one that succeeded is recorded with its number.
    const attempts = await ds.getRepository(WebhookDeliveryAttempt).find();
    expect(attempts).toHaveLength(EVENTS);
    const byDelivery = new Map(attempts.map((a) => [a.deliveryId, a]));
    expect(
      rows.filter((d) => {
        const a = byDelivery.get(d.id);
        return !a || a.attempt !== d.attempts || !a.success || a.statusCode !== 200;
      }),
    ).toEqual([]);

    process.stdout.write(
      `webhooks crash (${TEST_DB}): ${receivedAtKill} received before the kill, ${succeededAtKill.size} recorded succeeded, ` +
        `${delivering.size} left delivering of which ${inFlightAtKill.size} reached the receiver; after the restart ` +
        `${received.length} received in all, ${repeated.length} repeated, all succeeded ${(finishedMs / 1000).toFixed(1)} s after the restart\n`,
    );
  });
});

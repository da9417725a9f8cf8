import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { TransactionRunner } from '../../src/database/transaction-runner.service';
import { OutboxService } from '../../src/events/outbox.service';
import { WebhookDeliveryAttempt } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { createSubscription } from '../factories/webhooks';
import { createOrganization } from '../factories/organizations';
import { openServiceDatabase, ServiceProcess, sleep, startWorkerService } from '../process/service-process';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';

const EVENTS = 64;
const CONCURRENCY = 16;
/** The old fixed claim lasted 2 × this + 5 s (25 s): a takeover within 10 s needs the renewed lease. */
const TIMEOUT_MS = 10_000;
const TAKEOVER_MS = 10_000;

jest.setTimeout(180_000);

interface Received {
  eventId: string;
  webhookId: string;
  verified: boolean;
  at: number;
}

/**
 * A real receiver on 127.0.0.1 that holds every request unanswered until `release()`, then answers
 * those held and every later one with 200 at once.
 */
async function startHoldingReceiver(secret: string) {
  const verifier = new Webhook(secret);
  const received: Received[] = [];
  const held: ServerResponse[] = [];
  const sockets = new Set<Socket>();
  let holding = true;
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
      received.push({ eventId: (JSON.parse(body.toString('utf8')) as { id: string }).id, webhookId: String(req.headers['webhook-id']), verified, at: Date.now() });
      if (holding) held.push(res);
      else res.writeHead(200).end('ok');
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
    release: () => {
      holding = false;
      for (const res of held.splice(0)) if (!res.destroyed) res.writeHead(200).end('ok');
    },
    close: async () => {
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

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what()} not reached within ${timeoutMs} ms`);
    await sleep(20);
  }
}

// Two service processes on one database: on SQLite too (WAL, one writer at a time, the others wait
// for the lock), which is not how SQLite is deployed, but is the same lease machinery.
describe(`a replica SIGKILLed with claimed deliveries (${TEST_DB})`, () => {
  let database: TestDatabase;
  let receiver: Awaited<ReturnType<typeof startHoldingReceiver>>;
  let t: TestApp;
  let organizationId: string;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    const secret = generateSecret();
    receiver = await startHoldingReceiver(secret);
    database = await createTestDatabase();
    t = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false' }, database);
    organizationId = (await createOrganization(t.dataSource)).id;
    await createSubscription(t.dataSource, { organizationId, payloadUrl: receiver.url, secret });
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.kill()));
    await t?.close();
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

  it('has another replica take its claims over within 10 s, repeating only them, with the same webhook-id', async () => {
    const dying = await startService();
    await dying.waitUntilListening();
    const survivor = await startService();
    await survivor.waitUntilListening();
    const outbox = t.app.get(OutboxService);
    const eventIds = await t.app.get(TransactionRunner).run(async (em) => {
      const ids: string[] = [];
      for (let n = 0; n < EVENTS; n++) ids.push((await outbox.record(em, { type: 'user.created', organizationId, data: { n } })).id);
      return ids;
    });

    // Both replicas' slots are full: their attempts hang at the receiver.
    await until(() => receiver.received.length >= 2 * CONCURRENCY, 60_000, () => `${2 * CONCURRENCY} requests held (output:\n${dying.output}\n${survivor.output})`);
    await sleep(300);
    const receivedBeforeKill = new Set(receiver.received.map((r) => r.eventId));
    await dying.kill();
    const killedAt = Date.now();
    receiver.release();

    const database_ = await openServiceDatabase(database.env);
    try {
      const deliveries = database_.getRepository(WebhookDelivery);
      await until(
        async () => (await deliveries.countBy({ state: DeliveryState.Succeeded })) === EVENTS,
        60_000,
        () => `all ${EVENTS} deliveries succeeded (survivor output:\n${survivor.output})`,
      );
      const doneMs = Date.now() - killedAt;
      await sleep(500);

      const received = receiver.received;
      expect(received.filter((r) => r.webhookId !== r.eventId || !r.verified)).toEqual([]);
      expect(new Set(received.map((r) => r.eventId))).toEqual(new Set(eventIds));
      const times = new Map<string, Received[]>();
      for (const r of received) times.set(r.eventId, [...(times.get(r.eventId) ?? []), r]);
      const repeated = [...times].filter(([, list]) => list.length > 1);
      // Repeated: only attempts that reached the receiver before the kill, each once more, at most 2 × concurrency of them.
      expect(repeated.length).toBeGreaterThan(0);
      expect(repeated.length).toBeLessThanOrEqual(2 * CONCURRENCY);
      expect(repeated.filter(([id, list]) => list.length !== 2 || !receivedBeforeKill.has(id))).toEqual([]);
      // Taken over within 10 s of the kill: every repeat went out by then.
      const takeoverMs = Math.max(...repeated.map(([, list]) => list[1].at - killedAt));
      expect(takeoverMs).toBeLessThanOrEqual(TAKEOVER_MS);

      const rows = await deliveries.find();
      // Attempts: one per request, plus one for a claim the dead replica took ahead and never started.
      expect(rows.filter((d) => d.state !== DeliveryState.Succeeded || d.attempts - (times.get(d.eventId)?.length ?? 0) > 1 || d.attempts < (times.get(d.eventId)?.length ?? 0))).toEqual([]);
      const attempts = await database_.getRepository(WebhookDeliveryAttempt).find();
      // The attempts the kill cut off leave no row; each delivery's successful one is recorded.
      expect(attempts).toHaveLength(EVENTS);
      expect(attempts.filter((a) => !a.success || a.statusCode !== 200)).toEqual([]);
      process.stdout.write(
        `webhooks replica takeover (${TEST_DB}): ${receivedBeforeKill.size} requests held at the kill, ${repeated.length} repeated, ` +
          `taken over ${(takeoverMs / 1000).toFixed(1)} s after the kill, all succeeded after ${(doneMs / 1000).toFixed(1)} s\n`,
      );
    } finally {
      await database_.destroy();
    }
  });
});

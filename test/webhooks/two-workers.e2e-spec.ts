import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { TransactionRunner } from '../../src/database/transaction-runner.service';
import { OutboxService } from '../../src/events/outbox.service';
import { WebhookDeliveryAttempt } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { createSubscription } from '../factories/webhooks';
import { createOrganization } from '../factories/organizations';
import { ServiceProcess, sleep, startWorkerService } from '../process/service-process';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';

const EVENTS = 600;
const CONCURRENCY = 8;
const ANSWER_AFTER_MS = 25;
/** The first request for every RETRY_EVERY-th event is answered 503, so that deliveries have a second attempt. */
const RETRY_EVERY = 10;

jest.setTimeout(180_000);

interface Received {
  eventId: string;
  /** `data.n` of the event. */
  n: number;
  webhookId: string;
  verified: boolean;
  status: number;
  /** The sender's side of the connection: tells which process sent it. */
  remotePort: number;
}

/** A real receiver on 127.0.0.1 answering after `ANSWER_AFTER_MS`: 503 the first time it sees every RETRY_EVERY-th event, else 200. */
async function startReceiver(secret: string): Promise<{ port: number; url: string; received: Received[]; close(): Promise<void> }> {
  const verifier = new Webhook(secret);
  const received: Received[] = [];
  const seen = new Set<string>();
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
      const event = JSON.parse(body.toString('utf8')) as { id: string; data: { n: number } };
      const status = event.data.n % RETRY_EVERY === 0 && !seen.has(event.id) ? 503 : 200;
      seen.add(event.id);
      received.push({ eventId: event.id, n: event.data.n, webhookId: String(req.headers['webhook-id']), verified, status, remotePort: req.socket.remotePort ?? 0 });
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.writeHead(status).end(status === 200 ? 'ok' : 'busy');
      }, ANSWER_AFTER_MS);
      timers.add(timer);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/hook`,
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

/**
 * The local ports of the TCP connections `pid` holds to `remotePort` on this machine (Linux
 * /proc: the process's socket inodes, matched against the connection tables of its namespace).
 */
function connectionsOf(pid: number, remotePort: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // Closed between the listing and the read.
    }
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9])) continue;
      if (parseInt(cols[2].split(':')[1], 16) === remotePort) ports.push(parseInt(cols[1].split(':')[1], 16));
    }
  }
  return ports;
}

/** Samples which process owns which connection to the receiver until stopped: local port → pid. */
function watchSenders(pids: number[], receiverPort: number): { stop(): Map<number, number> } {
  const owner = new Map<number, number>();
  const sample = (): void => {
    for (const pid of pids) {
      try {
        for (const port of connectionsOf(pid, receiverPort)) owner.set(port, pid);
      } catch {
        // The process is gone.
      }
    }
  };
  sample();
  const timer = setInterval(sample, 20);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return owner;
    },
  };
}

// One SQLite file has one writer process; several replicas are a PostgreSQL deployment.
const describeOnPostgres = TEST_DB === 'postgres' ? describe : describe.skip;

describeOnPostgres('two service processes delivering webhooks from one PostgreSQL database (PostgreSQL only: skipped on SQLite; TEST_DB=postgres)', () => {
  let database: TestDatabase;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let t: TestApp;
  let organizationId: string;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    const secret = generateSecret();
    receiver = await startReceiver(secret);
    database = await createTestDatabase();
    // The test's own app writes the events through the outbox; its worker is off.
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
      WEBHOOKS_BACKOFF_BASE_MS: '50',
      WEBHOOKS_BACKOFF_MAX_MS: '200',
    });
    services.push(service);
    return service;
  }

  it('sends each attempt of each delivery from exactly one process, and both processes send some', async () => {
    const processes = [await startService(), await startService()];
    await Promise.all(processes.map((p) => p.waitUntilListening()));
    const pids = processes.map((p) => p.child.pid ?? 0);
    const senders = watchSenders(pids, receiver.port);

    const outbox = t.app.get(OutboxService);
    const eventIds = await t.app.get(TransactionRunner).run(async (em) => {
      const ids: string[] = [];
      for (let n = 0; n < EVENTS; n++) ids.push((await outbox.record(em, { type: 'user.created', organizationId, data: { n } })).id);
      return ids;
    });

    const deliveries = t.dataSource.getRepository(WebhookDelivery);
    const deadline = Date.now() + 60_000;
    while ((await deliveries.countBy({ state: DeliveryState.Succeeded })) < EVENTS) {
      if (Date.now() > deadline) throw new Error(`not every delivery succeeded within 60 s:\n${processes.map((p) => p.output).join('\n')}`);
      await sleep(100);
    }
    await sleep(300);
    const owner = senders.stop();

    // The database: one delivery per event, each claimed once per attempt, every attempt recorded once.
    const rows = await deliveries.find();
    expect(rows).toHaveLength(EVENTS);
    expect(new Set(rows.map((d) => d.eventId))).toEqual(new Set(eventIds));
    const received = receiver.received;
    const nOf = new Map(received.map((r) => [r.eventId, r.n]));
    expect(rows.filter((d) => d.state !== DeliveryState.Succeeded || d.attempts !== ((nOf.get(d.eventId) ?? -1) % RETRY_EVERY === 0 ? 2 : 1))).toEqual([]);
    const attempts = await t.dataSource.getRepository(WebhookDeliveryAttempt).find();
    const totalAttempts = rows.reduce((sum, d) => sum + d.attempts, 0);
    expect(attempts).toHaveLength(totalAttempts);
    expect(new Set(attempts.map((a) => `${a.deliveryId}/${a.attempt}`)).size).toBe(totalAttempts);
    expect(attempts.filter((a) => a.success !== (a.statusCode === 200))).toEqual([]);

    // The receiver: exactly one request per attempt, never one attempt sent twice.
    expect(received).toHaveLength(totalAttempts);
    expect(received.filter((r) => r.webhookId !== r.eventId || !r.verified)).toEqual([]);
    const perEvent = new Map<string, number>();
    for (const r of received) perEvent.set(r.eventId, (perEvent.get(r.eventId) ?? 0) + 1);
    expect(rows.filter((d) => perEvent.get(d.eventId) !== d.attempts)).toEqual([]);

    // Both processes did part of the work, and every request is one of theirs.
    const byProcess = new Map<number, number>(pids.map((pid) => [pid, 0]));
    let unattributed = 0;
    for (const r of received) {
      const pid = owner.get(r.remotePort);
      if (pid === undefined) unattributed++;
      else byProcess.set(pid, (byProcess.get(pid) ?? 0) + 1);
    }
    expect(unattributed).toBe(0);
    expect([...byProcess.values()].filter((n) => n === 0)).toEqual([]);
    for (const p of processes) expect(p.output).not.toMatch(/claim lost/);

    process.stdout.write(
      `webhooks two workers (postgres): ${received.length} requests for ${EVENTS} deliveries (${totalAttempts} attempts); ` +
        `by process: ${[...byProcess.values()].join(' + ')} over ${owner.size} connections\n`,
    );
  });
});

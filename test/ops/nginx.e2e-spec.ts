import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { In } from 'typeorm';
import { Action, ActionState } from '../../src/actions/action.entity';
import { actionsConfig } from '../../src/config/actions.config';
import { ConnectorRun, ConnectorRunStatus } from '../../src/connector/connector-run.entity';
import { CONNECTOR_LEASE } from '../../src/connector/connector-runner.service';
import { Lease } from '../../src/database/lease.entity';
import { DomainEvent } from '../../src/events/event.entity';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { S3InboxRecord } from '../../src/s3-events/s3-inbox-record.entity';
import { WebhookDeliveryAttempt } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { createHandlerSetup } from '../factories/actions';
import { createItems, markerOf } from '../factories/connector-items';
import { createOrganization, createUser, mapOrganization } from '../factories/organizations';
import { notification, PUBLISHED_CONFIRMATION, PUBLISHED_SIGNATURE } from '../factories/s3-events';
import { createDeliveries, createSubscription } from '../factories/webhooks';
import { ActionWsClient } from '../fakes/action-ws-client';
import { FakeAcronisApi, startFakeAcronisApi } from '../fakes/fake-acronis-api';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { freePort, httpCall, SERVICE_ENV, ServiceProcess, sleep } from '../process/service-process';
import { connectorEnv } from '../setup/connector-env';
import { createTestApp, TestApp, withEnv } from '../setup/create-test-app';
import { APP_CODE, cyberAppAuth, envelope, responseType } from '../setup/protocol';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';
import { AccessLogEntry, GATEWAY_CONF, NginxProcess, proxyCall, ProxyCallOptions, ProxyResult } from './nginx-process';

/** The gateway's BODY_LIMIT_BYTES default and nginx's client_max_body_size (deploy/nginx/gateway.conf). */
const BODY_LIMIT = 1024 * 1024;
const FAILURES_PER_ADDRESS = 5;
const KEEP_PER_SUBSCRIPTION = 5;
const OLD_DELIVERIES = 12;
const USER_EVENTS = 12;
/** A connector pass long enough (items × service time / concurrency ≈ 17 s) for both replicas' first tick to fall inside it. */
const CONNECTOR_ITEMS = 48;
const CONNECTOR_SERVICE_MS = 700;
const CONNECTOR_CONCURRENCY = 2;
/** ConnectorJob's FIRST_RUN_DELAY_MS, and the retention interval the replicas get (the shortest the config takes). */
const FIRST_CONNECTOR_RUN_MS = 5000;
const RETENTION_INTERVAL_MS = 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Actions submitted through nginx in the action channel test: enough for both replicas to take some. */
const ACTIONS = 6;
/** Records of the S3 notification padded to the body limit. */
const S3_RECORDS = 100;

jest.setTimeout(240_000);

interface Replica {
  name: string;
  port: number;
  service: ServiceProcess;
  pid: number;
}

interface LogLine {
  time?: number;
  msg?: string;
  req?: { id?: string; headers?: Record<string, string> };
  res?: { statusCode?: number };
}

/** A POST of exactly these bytes straight to a replica (httpCall sends JSON it serializes itself). */
function rawPost(port: number, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

describe('deploy/nginx/gateway.conf, the action channel location', () => {
  it("keeps an idle action channel open for at least two of the gateway's heartbeats (ACTIONS_PING_INTERVAL_MS by default)", async () => {
    const block = /location \/api\/action-ws\/ \{([^}]*)\}/.exec(readFileSync(GATEWAY_CONF, 'utf8'))?.[1] ?? '';
    const seconds = (directive: string): number => Number(new RegExp(`^\\s*${directive} (\\d+)s;`, 'm').exec(block)?.[1]);
    const { pingIntervalMs } = await withEnv({ ACTIONS_PING_INTERVAL_MS: undefined }, () => Promise.resolve(actionsConfig()));
    // nginx closes an upgraded connection on which nothing moved for proxy_read_timeout; the pings and pongs are what moves.
    expect(seconds('proxy_read_timeout') * 1000).toBeGreaterThanOrEqual(2 * pingIntervalMs);
    expect(seconds('proxy_send_timeout') * 1000).toBeGreaterThanOrEqual(2 * pingIntervalMs);
  });
});

// Two replicas share one database: a PostgreSQL deployment (one SQLite file has one writer process).
const describeOnPostgres = TEST_DB === 'postgres' ? describe : describe.skip;

describeOnPostgres('nginx (deploy/nginx/gateway.conf) in front of two gateway processes on PostgreSQL (PostgreSQL only: skipped on SQLite, as two replicas need a shared database; TEST_DB=postgres)', () => {
  let api: FakeAcronisApi;
  let receiver: WebhookReceiver;
  let database: TestDatabase;
  let t: TestApp;
  let nginx: NginxProcess;
  let replicas: Replica[] = [];
  let auth: string;
  let tenantId: string;
  let customerId: string;
  let partnerId: string;
  let itemIds: string[];
  let liveSubscriptionId: string;
  let oldSubscriptionId: string;
  /** Holders of the connector lease seen in the `leases` table, sampled from boot on. */
  const connectorLeaseHolders = new Set<string>();
  let leaseWatch: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    api = await startFakeAcronisApi({ serviceTimeMs: CONNECTOR_SERVICE_MS });
    const secret = generateSecret();
    receiver = await startWebhookReceiver({ secret });
    // Every third event's first delivery attempt is answered 503: those deliveries have a second attempt.
    const seen = new Map<string, number>();
    receiver.setBehaviour((delivery) => {
      const eventId = String(delivery.headers['webhook-id']);
      const first = !seen.has(eventId);
      if (first) seen.set(eventId, seen.size);
      return first && (seen.get(eventId) ?? 0) % 3 === 0 ? { status: 503, body: 'busy' } : { status: 200, body: 'ok' };
    });

    database = await createTestDatabase();
    // Migrations and seed data from the test's own app: no jobs, no worker, no connector.
    t = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false', WEBHOOKS_RETENTION_INTERVAL_MINUTES: '0' }, database);
    const partner = await createOrganization(t.dataSource, { name: 'Ops Partner' });
    partnerId = partner.id;
    const password = 'ops-partner-password';
    const user = await createUser(t.dataSource, { organizationId: partner.id, login: 'ops.partner', password });
    auth = cyberAppAuth(user.login, password);
    const customer = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer, parentId: partner.id, name: 'Ops Customer' });
    customerId = customer.id;
    const tenant = randomUUID();
    tenantId = tenant;
    await mapOrganization(t.dataSource, customer.id, tenant);
    await createUser(t.dataSource, { organizationId: customer.id, login: 'ops.customer.user' });
    itemIds = (await createItems(t.dataSource, Array.from({ length: CONNECTOR_ITEMS }, () => ({ organizationId: customer.id })))).map((i) => i.id);
    liveSubscriptionId = (await createSubscription(t.dataSource, { organizationId: customer.id, payloadUrl: receiver.url, secret })).id;
    // Finished deliveries of a disabled subscription, older than anything else: the retention sweep's work.
    oldSubscriptionId = (await createSubscription(t.dataSource, { organizationId: partner.id, enabled: false })).id;
    await createDeliveries(t.dataSource, oldSubscriptionId, OLD_DELIVERIES, new Date(Date.now() - 3_600_000));

    const env = {
      ...SERVICE_ENV,
      ...database.env,
      LOG_LEVEL: 'info',
      // nginx connects from 127.0.0.1; the clients of this test from 127.0.0.2 and 127.0.0.3.
      TRUST_PROXY: '127.0.0.1',
      AUTH_FAILURES_PER_ADDRESS: String(FAILURES_PER_ADDRESS),
      AUTH_FAILURES_PER_IDENTITY: '10',
      WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8',
      WEBHOOKS_POLL_MS: '200',
      WEBHOOKS_BACKOFF_BASE_MS: '50',
      WEBHOOKS_BACKOFF_MAX_MS: '200',
      WEBHOOKS_RETENTION_PER_SUBSCRIPTION: String(KEEP_PER_SUBSCRIPTION),
      WEBHOOKS_RETENTION_INTERVAL_MINUTES: String(RETENTION_INTERVAL_MS / 60_000),
      // The schedule's first pass 5 s after start, the next one long after the test.
      ...connectorEnv(api, {
        CONNECTOR_INTERVAL_MINUTES: '60',
        CONNECTOR_CONCURRENCY: String(CONNECTOR_CONCURRENCY),
        CONNECTOR_LEASE_SECONDS: '5',
        CONNECTOR_MAX_PASS_SECONDS: '120',
      }),
    };
    const ports = [await freePort(), await freePort()];
    replicas = ports.map((port, i) => {
      const service = ServiceProcess.start({ ...env, PORT: String(port) });
      return { name: `replica-${i + 1}`, port, service, pid: service.child.pid ?? 0 };
    });
    leaseWatch = setInterval(() => {
      void t.dataSource
        .getRepository(Lease)
        .findOneBy({ name: CONNECTOR_LEASE })
        .then((lease) => lease && connectorLeaseHolders.add(lease.holder))
        .catch(() => undefined);
    }, 100);
    await Promise.all(replicas.map((r) => r.service.waitUntilListening()));
    nginx = await NginxProcess.start({ upstreams: replicas.map((r) => `127.0.0.1:${r.port}`), httpsPort: await freePort() });
  });

  afterAll(async () => {
    clearInterval(leaseWatch);
    await nginx?.stop();
    await Promise.all(replicas.map((r) => r.service.kill()));
    await t?.close();
    await receiver?.close();
    await api?.close();
    await database?.drop();
  });

  const through = (options: ProxyCallOptions): Promise<ProxyResult> => proxyCall(nginx.httpsPort, options);

  const callback = (body: unknown, options: Partial<ProxyCallOptions> = {}): Promise<ProxyResult> =>
    through({ path: '/callback', body, ...options, headers: { 'x-cyberapp-auth': auth, ...options.headers } });

  function logLines(replica: Replica): LogLine[] {
    return replica.service.logLines;
  }

  /** The replica nginx passed the request to (its access log), or null when nginx answered itself. */
  function upstreamOf(requestId: string): Replica | null {
    const entries = nginx.accessLog().filter((e) => e.request_id === requestId);
    if (entries.length !== 1) throw new Error(`${entries.length} access log entries for ${requestId}`);
    const [entry] = entries;
    if (entry.upstream === '') return null;
    const replica = replicas.find((r) => entry.upstream === `127.0.0.1:${r.port}`);
    if (!replica) throw new Error(`unknown upstream ${entry.upstream}`);
    return replica;
  }

  /** The replicas whose own request log has `requestId` (waits for their output to arrive). */
  async function loggedBy(requestIds: string[], timeoutMs = 5000): Promise<Map<string, Replica[]>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = new Map(requestIds.map((id) => [id, replicas.filter((r) => logLines(r).some((l) => l.req?.id === id))]));
      if ([...found.values()].every((rs) => rs.length > 0) || Date.now() > deadline) return found;
      await sleep(100);
    }
  }

  /** Waits until nginx has logged every one of `requestIds` (it logs once the answer is sent). */
  async function accessLogFor(requestIds: string[]): Promise<AccessLogEntry[]> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const entries = nginx.accessLog().filter((e) => requestIds.includes(e.request_id));
      if (entries.length >= requestIds.length || Date.now() > deadline) return entries;
      await sleep(50);
    }
  }

  /** When the replica started its schedules (ConnectorJob logs it in onApplicationBootstrap, next to the retention interval). */
  function scheduledAt(replica: Replica): number {
    const line = logLines(replica).find((l) => l.msg?.startsWith('connector scheduled every'));
    if (line?.time === undefined) throw new Error(`${replica.name} did not schedule the connector:\n${replica.service.output}`);
    return line.time;
  }

  it('answers callbacks through nginx from both replicas, each request from exactly one', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await callback(envelope('users_read', {}, { tenantId }));
      expect(res.status).toBe(200);
      const body = JSON.parse(res.body);
      expect(body.type).toBe(responseType(`${APP_CODE}.users_read_success.v1.0`));
      expect(body.payload.items.map((u: { name: string }) => u.name)).toEqual(['ops.customer.user']);
      ids.push(String(res.headers['x-request-id']));
    }
    // A request id the client gives follows the request through nginx to the replica and back.
    const own = `ops-${randomUUID()}`;
    const res = await callback(envelope('users_read', {}, { tenantId }), { headers: { 'x-request-id': own } });
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe(own);
    ids.push(own);

    await accessLogFor(ids);
    const logged = await loggedBy(ids);
    for (const id of ids) {
      const upstream = upstreamOf(id);
      expect(upstream).not.toBeNull();
      // The replica nginx names is the one, and the only one, that logged the request.
      expect(logged.get(id)).toEqual([upstream]);
    }
    const served = new Set(ids.map((id) => upstreamOf(id)?.name));
    expect(served).toEqual(new Set(replicas.map((r) => r.name)));
  });

  it('limits failed authentications by the address that connected to nginx, not by a forged X-Forwarded-For nor by nginx itself', async () => {
    const attempt = (i: number, localAddress: string) =>
      through({
        path: '/callback',
        localAddress,
        body: envelope('users_read', {}, { tenantId }),
        // An unknown login counts against the client address; each try forges another one.
        headers: { 'x-cyberapp-auth': cyberAppAuth(`nobody-${randomUUID()}`, 'wrong'), 'x-forwarded-for': `203.0.113.${i + 1}` },
      });
    const answers: Array<{ status: number; id: string; body: string; retryAfter: unknown }> = [];
    for (let i = 0; i < 2 * FAILURES_PER_ADDRESS + 2; i++) {
      const res = await attempt(i, '127.0.0.2');
      answers.push({ status: res.status, id: String(res.headers['x-request-id']), body: res.body, retryAfter: res.headers['retry-after'] });
    }
    await accessLogFor(answers.map((a) => a.id));

    // Each replica keeps its own counts: on each, FAILURES_PER_ADDRESS 401s, then only 429s.
    for (const replica of replicas) {
      const statuses = answers.filter((a) => upstreamOf(a.id) === replica).map((a) => a.status);
      const allowed = Math.min(statuses.length, FAILURES_PER_ADDRESS);
      expect(statuses).toEqual([...Array<number>(allowed).fill(401), ...Array<number>(statuses.length - allowed).fill(429)]);
    }
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(2);
    for (const a of limited) {
      expect(JSON.parse(a.body)).toMatchObject({ code: 'RATE_LIMITED' });
      expect(Number(a.retryAfter)).toBeGreaterThan(0);
    }
    // nginx replaced every forged X-Forwarded-For with the address that connected to it.
    const logged = await loggedBy(answers.map((a) => a.id));
    for (const a of answers) {
      const [replica] = logged.get(a.id) ?? [];
      const line = logLines(replica).find((l) => l.req?.id === a.id);
      expect(line?.req?.headers?.['x-forwarded-for']).toBe('127.0.0.2');
    }

    // Another client behind the same nginx, forging the first client's address, is not blocked (on either replica).
    for (let i = 0; i < 2; i++) {
      const res = await through({
        path: '/callback',
        localAddress: '127.0.0.3',
        body: envelope('users_read', {}, { tenantId }),
        headers: { 'x-cyberapp-auth': cyberAppAuth(`nobody-${randomUUID()}`, 'wrong'), 'x-forwarded-for': '127.0.0.2' },
      });
      expect(res.status).toBe(401);
    }
  });

  it('answers a body over 1 MiB in nginx with 413 in the error envelope, the same error as the gateway, and passes one of exactly 1 MiB', async () => {
    // Exactly the limit: through nginx to a replica, which answers it.
    const request = envelope('users_read', { padding: '' }, { tenantId });
    const padding = BODY_LIMIT - Buffer.byteLength(JSON.stringify(request));
    (request.payload as { padding: string }).padding = 'x'.repeat(padding);
    const exact = JSON.stringify(request);
    expect(Buffer.byteLength(exact)).toBe(BODY_LIMIT);
    const accepted = await callback(exact);
    expect(accepted.status).toBe(200);
    expect(JSON.parse(accepted.body).request_id).toBe(request.request_id);

    // One byte more: nginx answers, with or without Content-Length.
    const over = `${exact.slice(0, -1)} }`;
    expect(Buffer.byteLength(over)).toBe(BODY_LIMIT + 1);
    const refused = [await callback(over), await callback(over, { chunked: true })];
    for (const res of refused) {
      expect(res.status).toBe(413);
      expect(res.headers['content-type']).toBe('application/json');
      const body = JSON.parse(res.body);
      expect(body).toEqual({ response_id: expect.stringMatching(UUID), err_message: 'Request body is too large', message: 'Request body is too large', code: 'PAYLOAD_TOO_LARGE' });
      expect(res.headers['x-request-id']).toEqual(expect.any(String));
    }
    await accessLogFor(refused.map((r) => String(r.headers['x-request-id'])));
    for (const res of refused) expect(upstreamOf(String(res.headers['x-request-id']))).toBeNull();
    expect(upstreamOf(String(accepted.headers['x-request-id']))).not.toBeNull();

    // The gateway's own answer to the same body, sent directly: the same status, code and message.
    const direct = await httpCall(replicas[0].port, { path: '/callback', headers: { 'x-cyberapp-auth': auth, 'content-type': 'application/json' }, body: JSON.parse(exact) as unknown });
    expect(direct.status).toBe(200);
    const directOver = await rawPost(replicas[0].port, '/callback', over);
    expect(directOver.status).toBe(413);
    const own = JSON.parse(directOver.body);
    const fromNginx = JSON.parse(refused[0].body);
    expect({ code: own.code, message: own.message, err_message: own.err_message }).toEqual({ code: fromNginx.code, message: fromNginx.message, err_message: fromNginx.err_message });
  });

  it('delivers the events of callbacks made through nginx: every attempt of every delivery recorded once and received once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < USER_EVENTS; i++) {
      const res = await callback(envelope('user_write', { login: `ops.user${i}`, name: `Ops User ${i}`, email: `ops.user${i}@example.test` }, { tenantId }));
      expect(res.status).toBe(200);
      ids.push(String(res.headers['x-request-id']));
    }
    await accessLogFor(ids);
    expect(new Set(ids.map((id) => upstreamOf(id)?.name))).toEqual(new Set(replicas.map((r) => r.name)));

    const events = await t.dataSource.getRepository(DomainEvent).findBy({ type: 'user.created', organizationId: customerId });
    expect(events).toHaveLength(USER_EVENTS);
    const deliveries = t.dataSource.getRepository(WebhookDelivery);
    const deadline = Date.now() + 60_000;
    while ((await deliveries.countBy({ subscriptionId: liveSubscriptionId, state: DeliveryState.Succeeded })) < USER_EVENTS) {
      if (Date.now() > deadline) throw new Error(`deliveries not all succeeded within 60 s:\n${replicas.map((r) => r.service.output.slice(-3000)).join('\n')}`);
      await sleep(100);
    }

    const delivered = await deliveries.findBy({ subscriptionId: liveSubscriptionId });
    // One delivery per event...
    expect(delivered.map((d) => d.eventId).sort()).toEqual(events.map((e) => e.id).sort());
    const attempts = await t.dataSource.getRepository(WebhookDeliveryAttempt).findBy({ deliveryId: In(delivered.map((d) => d.id)) });
    const received = receiver.received.filter((r) => events.some((e) => e.id === r.headers['webhook-id']));
    for (const delivery of delivered) {
      // ...each attempt recorded once, numbered 1..n, and received exactly once by the receiver.
      const numbers = attempts.filter((a) => a.deliveryId === delivery.id).map((a) => a.attempt);
      expect(numbers.sort((a, b) => a - b)).toEqual(Array.from({ length: delivery.attempts }, (_, i) => i + 1));
      expect(received.filter((r) => r.headers['webhook-id'] === delivery.eventId)).toHaveLength(delivery.attempts);
    }
    expect(received).toHaveLength(attempts.length);
    expect(delivered.filter((d) => d.attempts === 2)).toHaveLength(USER_EVENTS / 3);
    expect(received.every((r) => r.verified.cs === true && r.verified.standard === true)).toBe(true);
  });

  it('runs the connector job on one replica: both ask while it runs, one holds the lease and pushes every item once', async () => {
    const runs = t.dataSource.getRepository(ConnectorRun);
    const deadline = Date.now() + 90_000;
    while ((await runs.countBy({ status: ConnectorRunStatus.Completed })) === 0) {
      if (Date.now() > deadline) throw new Error(`no connector run completed within 90 s:\n${replicas.map((r) => r.service.output.slice(-3000)).join('\n')}`);
      await sleep(200);
    }
    clearInterval(leaseWatch);

    const all = await runs.find();
    expect(all).toHaveLength(1);
    const [run] = all;
    expect(run).toMatchObject({ trigger: 'schedule', status: ConnectorRunStatus.Completed, sent: CONNECTOR_ITEMS, failed: 0 });
    const holder = replicas.find((r) => run.holder.split(':')[1] === String(r.pid));
    expect(holder).toBeDefined();
    expect([...connectorLeaseHolders]).toEqual([run.holder]);

    // Both replicas' first scheduled pass came due while that run held the lease.
    const ticks = replicas.map((r) => scheduledAt(r) + FIRST_CONNECTOR_RUN_MS).sort((a, b) => a - b);
    expect(Math.abs(run.startedAt.getTime() - ticks[0])).toBeLessThan(2000);
    expect(run.finishedAt?.getTime()).toBeGreaterThan(ticks[1] + 500);

    const pushes = [...api.alerts, ...api.workloads];
    expect(pushes).toHaveLength(CONNECTOR_ITEMS);
    expect(pushes.map((p) => markerOf(p.body)).sort()).toEqual([...itemIds].sort());
  });

  it('sweeps old webhook deliveries once: one replica deletes them, the other finds nothing left to delete', async () => {
    const deliveries = t.dataSource.getRepository(WebhookDelivery);
    const before = await deliveries.find({ order: { createdAt: 'DESC', id: 'DESC' } });
    const bySubscription = (rows: WebhookDelivery[], id: string) => rows.filter((d) => d.subscriptionId === id);
    expect(bySubscription(before, oldSubscriptionId)).toHaveLength(OLD_DELIVERIES);
    expect(bySubscription(before, liveSubscriptionId)).toHaveLength(USER_EVENTS);
    const expected = OLD_DELIVERIES + USER_EVENTS - 2 * KEEP_PER_SUBSCRIPTION;

    // Past both replicas' first sweep (every RETENTION_INTERVAL_MS from bootstrap), with time to finish.
    const lastSweep = Math.max(...replicas.map((r) => scheduledAt(r) + RETENTION_INTERVAL_MS));
    await sleep(Math.max(0, lastSweep + 3000 - Date.now()));

    const sweptBy = replicas
      .map((r) => ({ replica: r, lines: logLines(r).filter((l) => /^webhook retention: \d+ old deliveries deleted$/.test(l.msg ?? '')) }))
      .filter((s) => s.lines.length > 0);
    expect(sweptBy).toHaveLength(1);
    expect(sweptBy[0].lines.map((l) => l.msg)).toEqual([`webhook retention: ${expected} old deliveries deleted`]);

    const after = await deliveries.find();
    for (const id of [oldSubscriptionId, liveSubscriptionId]) {
      const newest = bySubscription(before, id).slice(0, KEEP_PER_SUBSCRIPTION).map((d) => d.id);
      expect(bySubscription(after, id).map((d) => d.id).sort()).toEqual(newest.sort());
    }
  });

  it('carries the action channel through nginx: a handler connected over WSS gets the actions submitted through nginx to either replica, and its results are stored', async () => {
    // An organization of its own: its events reach no webhook subscription of the tests above.
    const organization = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer, parentId: partnerId, name: 'Ops Actions Customer' });
    const actionsTenantId = randomUUID();
    await mapOrganization(t.dataSource, organization.id, actionsTenantId);
    const setup = await createHandlerSetup(t.dataSource, organization.id);

    const handler = await ActionWsClient.connectTo(`wss://127.0.0.1:${nginx.httpsPort}`, setup.token, { ca: nginx.cert });
    const submitted: Array<{ id: string; requestId: string }> = [];
    const expected = (i: number) => ({ message: 'Action successful', code: 200, data: `output ${i}\n` });
    try {
      for (let i = 0; i < ACTIONS; i++) {
        const res = await callback(envelope('action_submit', { capability: 'ExecuteCommand', parameters: { Command: `echo ${i}` }, timeout_ms: 60_000 }, { tenantId: actionsTenantId }));
        expect(res.status).toBe(200);
        const body = JSON.parse(res.body);
        expect(body).toMatchObject({ type: responseType(`${APP_CODE}.action_submit_success.v1.0`), payload: { handler_id: setup.handler.id } });
        submitted.push({ id: String(body.payload.id), requestId: String(res.headers['x-request-id']) });
      }
      // Both replicas took submits: the one without the handler's connection leaves its actions for the other's poll.
      await accessLogFor(submitted.map((s) => s.requestId));
      expect(new Set(submitted.map((s) => upstreamOf(s.requestId)?.name))).toEqual(new Set(replicas.map((r) => r.name)));

      for (const [i, { id }] of submitted.entries()) {
        expect(await handler.submitFor(id, 15_000)).toMatchObject({ type: 'submitAction', id, capability: 'ExecuteCommand', parameters: { Command: `echo ${i}` } });
        handler.ack(id);
        const answer = handler.nextFor('acknowledged', id);
        // Half as HIRO's reference clients send a result (a string holding JSON), half as the protocol text shows it (an object).
        handler.send({ type: 'sendActionResult', id, result: i % 2 === 0 ? JSON.stringify(expected(i)) : expected(i) });
        expect(await answer).toMatchObject({ type: 'acknowledged', id, code: 200 });
      }
    } finally {
      await handler.close();
    }

    // The results, read back through nginx from either replica, and in the ledger.
    for (const [i, { id }] of submitted.entries()) {
      const res = await through({ path: `/api/actions/${id}`, headers: { 'x-cyberapp-auth': auth } });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ id, state: ActionState.Completed, result_code: 200, result: expected(i), send_count: 1 });
    }
    const rows = await t.dataSource.getRepository(Action).findBy({ id: In(submitted.map((s) => s.id)) });
    expect(rows.map((r) => r.state)).toEqual(Array<ActionState>(ACTIONS).fill(ActionState.Completed));

    // The upgrade went through nginx (101) to one replica; nginx logs it when the channel closes.
    const deadline = Date.now() + 5000;
    let upgrades: AccessLogEntry[] = [];
    while ((upgrades = nginx.accessLog().filter((e) => e.uri === '/api/action-ws/1.0')).length === 0 && Date.now() < deadline) await sleep(50);
    expect(upgrades).toHaveLength(1);
    expect(upgrades[0]).toMatchObject({ method: 'GET', status: 101 });
    expect(replicas.map((r) => `127.0.0.1:${r.port}`)).toContain(upgrades[0].upstream);
  });

  it('passes S3 bucket notifications through nginx: JSON labelled text/plain as AWS SNS sends it, up to 1 MiB; one byte more is answered 413 by nginx', async () => {
    const created = await through({ path: '/api/s3-events/sources', headers: { 'x-cyberapp-auth': auth }, body: { name: 'ops-bucket', public_url: 'http://test.com', allowed_buckets: ['bucketA'] } });
    expect(created.status).toBe(201);
    const source = JSON.parse(created.body) as { id: string; intake_path: string };
    const sns = { 'content-type': 'text/plain; charset=UTF-8' };

    const confirmation = await through({ path: source.intake_path, body: JSON.stringify(PUBLISHED_CONFIRMATION), headers: { ...sns, 'x-amz-sns-message-type': 'SubscriptionConfirmation' } });
    expect(confirmation.status).toBe(200);
    expect(JSON.parse(confirmation.body)).toEqual({ signature: PUBLISHED_SIGNATURE });

    // Exactly the body limit (fields other than Records are not read: the padding), then one byte more.
    const body: Record<string, unknown> = { ...notification(...Array.from({ length: S3_RECORDS }, (_, i) => ({ key: `ops/object-${i}.bin`, sequencer: i + 1 }))), padding: '' };
    body.padding = 'x'.repeat(BODY_LIMIT - Buffer.byteLength(JSON.stringify(body)));
    const exact = JSON.stringify(body);
    expect(Buffer.byteLength(exact)).toBe(BODY_LIMIT);
    const over = `${exact.slice(0, -1)} }`;

    const accepted = await through({ path: source.intake_path, body: exact, headers: { ...sns, 'x-amz-sns-message-type': 'Notification' } });
    expect(accepted.status).toBe(200);
    expect(JSON.parse(accepted.body)).toEqual({ stored: S3_RECORDS, duplicates: 0 });
    const refused = await through({ path: source.intake_path, body: over, headers: { ...sns, 'x-amz-sns-message-type': 'Notification' } });
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });

    await accessLogFor([accepted, refused].map((r) => String(r.headers['x-request-id'])));
    expect(upstreamOf(String(accepted.headers['x-request-id']))).not.toBeNull();
    expect(upstreamOf(String(refused.headers['x-request-id']))).toBeNull();
    expect(await t.dataSource.getRepository(S3InboxRecord).countBy({ sourceId: source.id })).toBe(S3_RECORDS);
  });
});

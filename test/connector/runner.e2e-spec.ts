import { SchedulerRegistry } from '@nestjs/schedule';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { ConnectorItem, ConnectorItemKind, ConnectorItemSource, ConnectorItemState } from '../../src/connector/connector-item.entity';
import { ConnectorRun, ConnectorRunStatus } from '../../src/connector/connector-run.entity';
import { ConnectorJob } from '../../src/connector/connector.job';
import { CONNECTOR_LEASE, ConnectorRunner, NOT_MAPPED_REASON, RUN_COMPLETED_EVENT } from '../../src/connector/connector-runner.service';
import { alertIdOf } from '../../src/connector/connector-sync';
import { Lease } from '../../src/database/lease.entity';
import { DomainEvent } from '../../src/events/event.entity';
import { Organization, OrganizationKind } from '../../src/organizations/organization.entity';
import { createItems, markerOf } from '../factories/connector-items';
import { createOrganization, createTree, mapOrganization, Tree } from '../factories/organizations';
import { FakeAcronisApi, RecordedPush, replies, startFakeAcronisApi } from '../fakes/fake-acronis-api';
import { connectorEnv } from '../setup/connector-env';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BACKOFF_BASE_MS = 20;
const BACKOFF_MAX_MS = 100;
const MAX_ATTEMPTS = 3;

async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('connector runner against the fake Acronis API', () => {
  let api: FakeAcronisApi;
  let t: TestApp;
  let runner: ConnectorRunner;

  beforeAll(async () => {
    api = await startFakeAcronisApi();
    t = await createTestApp(connectorEnv(api, { CONNECTOR_MAX_ATTEMPTS: String(MAX_ATTEMPTS), CONNECTOR_BACKOFF_BASE_MS: String(BACKOFF_BASE_MS), CONNECTOR_BACKOFF_MAX_MS: String(BACKOFF_MAX_MS) }));
    runner = t.app.get(ConnectorRunner);
  });
  afterAll(async () => {
    await t.close();
    await api.close();
  });
  beforeEach(async () => {
    api.reset();
    for (const table of ['connector_items', 'connector_runs', 'events', 'leases']) await t.dataSource.query(`DELETE FROM ${table}`);
  });

  const items = () => t.dataSource.getRepository(ConnectorItem);
  const item = (id: string) => items().findOneByOrFail({ id });
  const pushes = (): RecordedPush[] => [...api.alerts, ...api.workloads];

  /** A customer organization mapped to a fresh Acronis tenant. */
  async function mappedCustomer(): Promise<{ organization: Organization; tenantId: string }> {
    const organization = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer });
    const tenantId = randomUUID();
    await mapOrganization(t.dataSource, organization.id, tenantId);
    return { organization, tenantId };
  }

  async function run(): Promise<ConnectorRun> {
    const result = await runner.runOnce('cli');
    if (!result) throw new Error('runOnce did not run');
    return result;
  }

  describe('delivery', () => {
    it('sends every due item exactly once, to the tenant its organization is mapped to, in the API shapes', async () => {
      const a = await mappedCustomer();
      const b = await mappedCustomer();
      const created = await createItems(t.dataSource, [
        { organizationId: a.organization.id },
        { organizationId: a.organization.id },
        { organizationId: a.organization.id, kind: ConnectorItemKind.Workload },
        { organizationId: b.organization.id },
        { organizationId: b.organization.id, kind: ConnectorItemKind.Workload },
      ]);

      const first = await run();
      expect(first).toMatchObject({ status: ConnectorRunStatus.Completed, sent: 5, failed: 0, skipped: 0 });
      const second = await run();
      expect(second).toMatchObject({ status: ConnectorRunStatus.Completed, sent: 0, failed: 0, skipped: 0 });

      expect(api.alerts).toHaveLength(3);
      expect(api.workloads).toHaveLength(2);
      const tenantOf = new Map(created.map((c) => [c.id, c.organizationId === a.organization.id ? a.tenantId : b.tenantId]));
      for (const push of api.alerts) {
        const id = markerOf(push.body);
        expect(push.status).toBe(200);
        expect(push.headers['user-agent']).toBe('ACP 1.0/Vendor Connector');
        const stored = created.find((c) => c.id === id) as ConnectorItem;
        // The alert's id derives from the item's; _source and _sourceTimeStamp say who made it when.
        expect(push.body).toEqual({
          ...stored.body,
          id: alertIdOf(stored.id),
          _source: 'cyberapp-gateway',
          _sourceTimeStamp: stored.createdAt.getTime(),
          tenantID: tenantOf.get(id ?? ''),
        });
      }
      for (const push of api.workloads) {
        const id = markerOf(push.body);
        expect(push.status).toBe(204);
        const { key, ...stored } = created.find((c) => c.id === id)?.body as Record<string, unknown> & { attributes: object };
        // The device's key travels in the key attribute, not as a field of the workload.
        expect(push.body).toEqual({ items: [{ ...stored, attributes: { ...stored.attributes, vendor_key: key }, client_id: api.clientId, tenant_id: tenantOf.get(id ?? '') }] });
      }
      expect(new Set(pushes().map((p) => markerOf(p.body))).size).toBe(5);

      for (const c of created) {
        const stored = await item(c.id);
        expect(stored).toMatchObject({
          state: ConnectorItemState.Sent,
          attempts: 1,
          acronisTenantId: tenantOf.get(c.id),
          lastError: null,
          lockedUntil: null,
          waitingReason: null,
        });
        expect(stored.sentAt).toBeInstanceOf(Date);
        if (c.kind === ConnectorItemKind.Alert) {
          expect(stored.lastStatus).toBe(200);
          expect(stored.remoteId).toBe(api.alerts.find((p) => markerOf(p.body) === c.id)?.remoteId);
          expect(stored.remoteId).toBe(alertIdOf(c.id));
        } else {
          expect(stored).toMatchObject({ lastStatus: 204, remoteId: null });
        }
      }
    });

    it('reuses one token for every push of every run', async () => {
      const a = await mappedCustomer();
      await createItems(t.dataSource, Array.from({ length: 6 }, () => ({ organizationId: a.organization.id })));
      await run();
      await createItems(t.dataSource, Array.from({ length: 6 }, () => ({ organizationId: a.organization.id })));
      await run();
      expect(api.alerts).toHaveLength(12);
      expect(api.tokenRequests.length).toBeLessThanOrEqual(1);
      expect(new Set(api.alerts.map((p) => p.token)).size).toBe(1);
    });

    it('keeps at most the configured number of pushes in flight', async () => {
      const a = await mappedCustomer();
      await createItems(t.dataSource, Array.from({ length: 100 }, () => ({ organizationId: a.organization.id })));
      const serviceTimeMs = 40;
      api.setBehaviour({ serviceTimeMs });

      expect(await run()).toMatchObject({ sent: 100 });

      // A slot's next push starts only after its previous answer: within less than one service time, at most 4 arrive.
      const arrivals = api.alerts.map((p) => p.receivedAt).sort((x, y) => x - y);
      const busiest = Math.max(...arrivals.map((start) => arrivals.filter((at) => at >= start && at < start + serviceTimeMs - 5).length));
      expect(busiest).toBeLessThanOrEqual(4);
      expect(busiest).toBeGreaterThanOrEqual(3);
    });

    it('waits for Retry-After after a 429 and sends the item in the same run', async () => {
      const a = await mappedCustomer();
      const [created] = await createItems(t.dataSource, [{ organizationId: a.organization.id }]);
      api.enqueue('pushes', replies.rateLimited(1));

      const result = await run();

      expect(result).toMatchObject({ sent: 1, failed: 0, skipped: 0 });
      expect(api.alerts.map((p) => p.status)).toEqual([429, 200]);
      expect(api.alerts[1].receivedAt - api.alerts[0].receivedAt).toBeGreaterThanOrEqual(950);
      expect(await item(created.id)).toMatchObject({ state: ConnectorItemState.Sent, attempts: 2, lastStatus: 200 });
    });

    it('retries a 500 with backoff and sends the item once the API recovers', async () => {
      const a = await mappedCustomer();
      const [created] = await createItems(t.dataSource, [{ organizationId: a.organization.id }]);
      api.enqueue('pushes', replies.serverError(500), 2);

      const result = await run();

      expect(result).toMatchObject({ sent: 1, failed: 0 });
      expect(api.alerts.map((p) => p.status)).toEqual([500, 500, 200]);
      // Full jitter: each wait lies in [0, min(max, base·2^(attempt-1))] (plus scheduling slack).
      expect(api.alerts[1].receivedAt - api.alerts[0].receivedAt).toBeLessThan(BACKOFF_BASE_MS + 500);
      expect(api.alerts[2].receivedAt - api.alerts[1].receivedAt).toBeLessThan(2 * BACKOFF_BASE_MS + 500);
      expect(await item(created.id)).toMatchObject({ state: ConnectorItemState.Sent, attempts: 3, lastStatus: 200, lastError: null });
    });

    it('draws backoff delays with full jitter under the cap, never below Retry-After', () => {
      for (let attempts = 1; attempts <= 8; attempts++) {
        const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempts - 1));
        const delays = Array.from({ length: 200 }, () => runner.retryDelayMs(attempts, null));
        expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
        expect(Math.max(...delays)).toBeLessThanOrEqual(ceiling);
        // Spread over the range, not a fixed value.
        expect(new Set(delays).size).toBeGreaterThan(5);
      }
      expect(runner.retryDelayMs(1, 5000)).toBe(5000);
      expect(Math.min(...Array.from({ length: 50 }, () => runner.retryDelayMs(4, 30)))).toBeGreaterThanOrEqual(30);
    });

    it('marks an item failed after the configured attempts, with the last error', async () => {
      const a = await mappedCustomer();
      const [created] = await createItems(t.dataSource, [{ organizationId: a.organization.id }]);
      api.enqueue('pushes', replies.serverError(503), MAX_ATTEMPTS);

      const result = await run();

      expect(result).toMatchObject({ sent: 0, failed: 1, skipped: 0 });
      expect(api.alerts).toHaveLength(MAX_ATTEMPTS);
      const stored = await item(created.id);
      expect(stored).toMatchObject({ state: ConnectorItemState.Failed, attempts: MAX_ATTEMPTS, lastStatus: 503, sentAt: null, lockedUntil: null });
      expect(stored.lastError).toContain('HTTP 503');
      expect(stored.lastError).toContain('internal_error');
      // A failed item is never picked up again.
      await run();
      expect(api.alerts).toHaveLength(MAX_ATTEMPTS);
    });

    it('fails an item at once on a 400, recording the status and the answer', async () => {
      const a = await mappedCustomer();
      const [created] = await createItems(t.dataSource, [{ organizationId: a.organization.id }]);
      api.enqueue('pushes', replies.json(400, { error: 'validation_error', message: 'details.title is too long' }));

      const result = await run();

      expect(result).toMatchObject({ sent: 0, failed: 1 });
      expect(api.alerts).toHaveLength(1);
      const stored = await item(created.id);
      expect(stored).toMatchObject({ state: ConnectorItemState.Failed, attempts: 1, lastStatus: 400 });
      expect(stored.lastError).toBe('HTTP 400: {"error":"validation_error","message":"details.title is too long"}');
    });

    it('keeps an item of an unmapped organization waiting with its reason, and sends it once the organization is mapped', async () => {
      const organization = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer });
      const [created] = await createItems(t.dataSource, [{ organizationId: organization.id }]);

      const waiting = await run();

      expect(waiting).toMatchObject({ sent: 0, failed: 0, skipped: 1 });
      expect(api.alerts).toHaveLength(0);
      expect(await item(created.id)).toMatchObject({ state: ConnectorItemState.Pending, attempts: 0, waitingReason: NOT_MAPPED_REASON });

      const tenantId = randomUUID();
      await mapOrganization(t.dataSource, organization.id, tenantId);
      const sent = await run();

      expect(sent).toMatchObject({ sent: 1, skipped: 0 });
      expect(api.alerts).toHaveLength(1);
      expect((api.alerts[0].body as { tenantID: string }).tenantID).toBe(tenantId);
      expect(await item(created.id)).toMatchObject({ state: ConnectorItemState.Sent, attempts: 1, waitingReason: null, acronisTenantId: tenantId });
    });

    it('records garbage from the API as a failure of the item and keeps working', async () => {
      const a = await mappedCustomer();
      const [broken] = await createItems(t.dataSource, [{ organizationId: a.organization.id }]);
      // The cached token is refused, and every token request answers garbage.
      api.expireTokens();
      api.enqueue('token', replies.truncatedJson(), 1);
      api.enqueue('token', replies.html(200), 1);
      api.enqueue('token', replies.json(200, { token_type: 'bearer' }), 1);

      const result = await run();

      expect(result).toMatchObject({ status: ConnectorRunStatus.Completed, sent: 0, failed: 1 });
      const stored = await item(broken.id);
      expect(stored).toMatchObject({ state: ConnectorItemState.Failed, attempts: MAX_ATTEMPTS, lastStatus: null });
      expect(stored.lastError).toMatch(/token request answered HTTP 200 without an access_token/);

      // Pushes answering garbage (a proxy's HTML page with a 502) are retried like any 5xx.
      const [next] = await createItems(t.dataSource, [{ organizationId: a.organization.id }]);
      api.enqueue('pushes', replies.html(502));
      expect(await run()).toMatchObject({ status: ConnectorRunStatus.Completed, sent: 1, failed: 0 });
      expect(await item(next.id)).toMatchObject({ state: ConnectorItemState.Sent, attempts: 2 });
    });

    it('fails an item whose stored body is unreadable, alone: the others of its claim are sent', async () => {
      const a = await mappedCustomer();
      const created = await createItems(t.dataSource, Array.from({ length: 4 }, () => ({ organizationId: a.organization.id })));
      await t.dataSource.query(`UPDATE connector_items SET body = '{"broken' WHERE id = '${created[1].id}'`);

      expect(await run()).toMatchObject({ status: ConnectorRunStatus.Completed, sent: 3, failed: 1 });

      // Read raw: the entity's simple-json column cannot load it.
      const [broken] = await t.dataSource.query<Array<Record<string, unknown>>>(`SELECT state, attempts, last_status, last_error FROM connector_items WHERE id = '${created[1].id}'`);
      expect({ ...broken, attempts: Number(broken.attempts) }).toMatchObject({ state: ConnectorItemState.Failed, attempts: 1, last_status: null });
      expect(broken.last_error).toMatch(/^the stored body is not JSON/);
      for (const other of [created[0], created[2], created[3]]) expect(await item(other.id)).toMatchObject({ state: ConnectorItemState.Sent, attempts: 1 });
      expect(api.alerts).toHaveLength(3);
    });

    it('sends at once when the intake asks for it (send_now), without waiting for the schedule', async () => {
      const tree: Tree = await createTree(t.dataSource);
      const tenantId = randomUUID();
      await mapOrganization(t.dataSource, tree.customers[0].id, tenantId);
      const res = await request(t.server)
        .post('/api/connector/items')
        .set('X-CyberApp-Auth', cyberAppAuth(tree.partnerUser.login, tree.password))
        .send({
          organization_id: tree.customers[0].id,
          send_now: true,
          items: [{ idempotency_key: 'k-1', kind: 'alert', alert: { type: 't', category: 'c', details: { title: 'x', category: 'y', description: 'z' } } }],
        })
        .expect(202);
      const id = res.body.items[0].id as string;

      await waitFor(async () => (await item(id)).state === ConnectorItemState.Sent);
      await waitFor(() => !runner.running);
      expect(api.alerts).toHaveLength(1);
      expect(await t.dataSource.getRepository(ConnectorRun).findOneByOrFail({ trigger: 'api' })).toMatchObject({ status: 'completed', sent: 1 });
    });
  });

  describe('runs', () => {
    it('records each run with its counts and a connector.run.completed event in the outbox', async () => {
      const a = await mappedCustomer();
      const unmapped = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer });
      await createItems(t.dataSource, [{ organizationId: a.organization.id }, { organizationId: a.organization.id }, { organizationId: a.organization.id }, { organizationId: unmapped.id }]);
      api.enqueue('pushes', replies.json(422, { error: 'unprocessable' }));

      const result = await run();

      const stored = await t.dataSource.getRepository(ConnectorRun).findOneByOrFail({ id: result.id });
      expect(stored).toMatchObject({ trigger: 'cli', holder: runner.holder, status: ConnectorRunStatus.Completed, sent: 2, failed: 1, skipped: 1, error: null });
      expect(stored.finishedAt?.getTime()).toBeGreaterThanOrEqual(stored.startedAt.getTime());
      const events = await t.dataSource.getRepository(DomainEvent).findBy({ type: RUN_COMPLETED_EVENT });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        organizationId: null,
        data: {
          run_id: result.id,
          trigger: 'cli',
          holder: runner.holder,
          status: 'completed',
          sent: 2,
          failed: 1,
          skipped: 1,
          error: null,
          started_at: stored.startedAt.toISOString(),
          finished_at: stored.finishedAt?.toISOString(),
        },
      });
    });

    it('records a run that fails on a database error as failed, with its event, and runs normally afterwards', async () => {
      const a = await mappedCustomer();
      await createItems(t.dataSource, [{ organizationId: a.organization.id }]);
      await t.dataSource.query('ALTER TABLE organizations_mapping RENAME TO organizations_mapping_away');
      let failed: ConnectorRun | null;
      try {
        failed = await runner.runOnce('cli');
      } finally {
        await t.dataSource.query('ALTER TABLE organizations_mapping_away RENAME TO organizations_mapping');
      }

      expect(failed).toMatchObject({ status: ConnectorRunStatus.Failed, error: expect.stringContaining('organizations_mapping') });
      expect(await t.dataSource.getRepository(ConnectorRun).findOneByOrFail({ id: failed?.id })).toMatchObject({ status: 'failed', finishedAt: expect.any(Date) });
      const [event] = await t.dataSource.getRepository(DomainEvent).findBy({ type: RUN_COMPLETED_EVENT });
      expect(event.data).toMatchObject({ run_id: failed?.id, status: 'failed', error: expect.stringContaining('organizations_mapping') });
      expect(api.alerts).toHaveLength(0);

      expect(await run()).toMatchObject({ status: ConnectorRunStatus.Completed, sent: 1 });
    });

    it('answers null to a second runOnce while this process is running one', async () => {
      const a = await mappedCustomer();
      await createItems(t.dataSource, Array.from({ length: 4 }, () => ({ organizationId: a.organization.id })));
      api.setBehaviour({ serviceTimeMs: 300 });

      const first = runner.runOnce('cli');
      expect(runner.running).toBe(true);
      expect(await runner.runOnce('cli')).toBeNull();

      expect(await first).toMatchObject({ status: ConnectorRunStatus.Completed, sent: 4 });
      expect(api.alerts).toHaveLength(4);
      expect(await t.dataSource.getRepository(ConnectorRun).count()).toBe(1);
    });

    it('answers null while another holder has the lease, and runs once that lease has expired', async () => {
      const a = await mappedCustomer();
      await createItems(t.dataSource, [{ organizationId: a.organization.id }]);
      const leases = t.dataSource.getRepository(Lease);
      await leases.insert({ name: CONNECTOR_LEASE, holder: 'other-replica:1:cafe', expiresAt: new Date(Date.now() + 60_000) });

      expect(await runner.runOnce('cli')).toBeNull();
      expect(api.alerts).toHaveLength(0);
      expect(await t.dataSource.getRepository(ConnectorRun).count()).toBe(0);

      await leases.update({ name: CONNECTOR_LEASE }, { expiresAt: new Date(Date.now() - 1) });
      expect(await run()).toMatchObject({ sent: 1 });
      // Released at the end of the run.
      expect(await leases.findOneBy({ name: CONNECTOR_LEASE })).toBeNull();
    });

    it('closes a run left running by a runner that died, when the next run starts', async () => {
      const runs = t.dataSource.getRepository(ConnectorRun);
      await runs.insert({ id: randomUUID(), trigger: 'schedule', holder: 'dead:1:beef', status: ConnectorRunStatus.Running, startedAt: new Date(Date.now() - 60_000), finishedAt: null, sent: 0, failed: 0, skipped: 0, error: null });

      await run();

      const abandoned = await runs.findOneByOrFail({ holder: 'dead:1:beef' });
      expect(abandoned).toMatchObject({ status: ConnectorRunStatus.Failed, error: expect.stringContaining('abandoned') });
      expect(abandoned.finishedAt).toBeInstanceOf(Date);
    });
  });
});

describe('connector demo generator', () => {
  let api: FakeAcronisApi;
  let t: TestApp;

  beforeAll(async () => {
    api = await startFakeAcronisApi();
    t = await createTestApp(connectorEnv(api, { CONNECTOR_DEMO_ENABLED: 'true', CONNECTOR_DEMO_ALERTS_PER_TENANT: '2', CONNECTOR_DEMO_WORKLOADS_PER_TENANT: '1' }));
  });
  afterAll(async () => {
    await t.close();
    await api.close();
  });

  it('queues working alerts and workloads for every mapped customer on each run, and they are accepted by the API', async () => {
    const tree = await createTree(t.dataSource);
    const tenants = new Map<string, string>();
    for (const customer of [tree.customers[0], tree.customers[1], tree.subCustomer]) {
      const tenantId = randomUUID();
      tenants.set(customer.id, tenantId);
      await mapOrganization(t.dataSource, customer.id, tenantId);
    }
    // A mapped partner gets nothing (docs/protocols.md: targets are mapped customers); the other customer is unmapped.
    await mapOrganization(t.dataSource, tree.partner.id);

    const result = await t.app.get(ConnectorRunner).runOnce('schedule');

    expect(result).toMatchObject({ status: ConnectorRunStatus.Completed, sent: 9, failed: 0 });
    const stored = await t.dataSource.getRepository(ConnectorItem).find();
    expect(stored).toHaveLength(9);
    for (const [organizationId, tenantId] of tenants) {
      const own = stored.filter((s) => s.organizationId === organizationId);
      expect(own.map((s) => s.kind).sort()).toEqual(['alert', 'alert', 'workload']);
      for (const s of own) expect(s).toMatchObject({ source: ConnectorItemSource.Demo, idempotencyKey: null, state: ConnectorItemState.Sent, acronisTenantId: tenantId });
    }
    expect(api.created.alerts).toHaveLength(6);
    expect(api.created.workloads).toHaveLength(3);
    for (const push of api.alerts) {
      expect(push.body).toMatchObject({
        type: 'cti.a.p.am.alert.v1.0~a.p.basic.v1.0~vendor.app.malware_detected.v1.0',
        category: 'cti.a.p.am.category.v1.0~vendor.app.protection.v1.0',
        details: {
          title: 'Malware Quarantined',
          category: 'Malware Detected',
          description: expect.stringMatching(/^Malicious file ".+" was put into quarantine\.$/),
          fields: { 'Malware type': expect.any(String), 'Device ID': expect.any(String), 'Full path': expect.any(String) },
        },
        tenantID: expect.stringMatching(UUID),
      });
    }
    for (const push of api.workloads) {
      expect(push.body).toMatchObject({
        items: [
          {
            type: 'cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.virtual_machine.v1.0',
            name: expect.stringMatching(/^vm-/),
            attributes: expect.any(Object),
            client_id: api.clientId,
            allowed_actions: [],
            enabled: true,
          },
        ],
      });
    }
    const pushedTenants = [...api.alerts.map((p) => (p.body as { tenantID: string }).tenantID), ...api.workloads.map((p) => (p.body as { items: Array<{ tenant_id: string }> }).items[0].tenant_id)];
    expect(new Set(pushedTenants)).toEqual(new Set(tenants.values()));

    // Every run generates a new batch.
    expect(await t.app.get(ConnectorRunner).runOnce('schedule')).toMatchObject({ sent: 9 });
  });
});

describe('connector job', () => {
  let api: FakeAcronisApi;

  beforeAll(async () => {
    api = await startFakeAcronisApi();
  });
  afterAll(() => api.close());

  async function scheduleOf(env: Record<string, string>): Promise<{ intervals: string[]; timeouts: string[] }> {
    const t = await createTestApp(env);
    try {
      const registry = t.app.get(SchedulerRegistry);
      return { intervals: registry.getIntervals(), timeouts: registry.getTimeouts() };
    } finally {
      await t.close();
    }
  }

  it('schedules a run every CONNECTOR_INTERVAL_MINUTES and one shortly after start', async () => {
    const schedule = await scheduleOf(connectorEnv(api, { CONNECTOR_INTERVAL_MINUTES: '30' }));
    expect(schedule.intervals).toContain('connector');
    expect(schedule.timeouts).toContain('connector-first-run');
  });

  it('schedules nothing with CONNECTOR_INTERVAL_MINUTES=0', async () => {
    const schedule = await scheduleOf(connectorEnv(api));
    expect(schedule.intervals).not.toContain('connector');
    expect(schedule.timeouts).not.toContain('connector-first-run');
  });

  it('schedules nothing, and runs nothing, without Acronis credentials', async () => {
    const env = { ...connectorEnv(api, { CONNECTOR_INTERVAL_MINUTES: '30' }), ACRONIS_CLIENT_ID: '', ACRONIS_CLIENT_SECRET: '', ACRONIS_DC_URL: '' };
    const schedule = await scheduleOf(env);
    expect(schedule.intervals).not.toContain('connector');
    expect(schedule.timeouts).not.toContain('connector-first-run');
    const t = await createTestApp(env);
    try {
      expect(await t.app.get(ConnectorRunner).runOnce('schedule')).toBeNull();
    } finally {
      await t.close();
    }
  });

  it('runs a pass on each tick, as trigger "schedule"', async () => {
    const t = await createTestApp(connectorEnv(api));
    try {
      const organization = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer });
      await mapOrganization(t.dataSource, organization.id);
      await createItems(t.dataSource, [{ organizationId: organization.id }]);
      await t.app.get(ConnectorJob).tick();
      expect(await t.dataSource.getRepository(ConnectorRun).find()).toEqual([expect.objectContaining({ trigger: 'schedule', status: 'completed', sent: 1 })]);
    } finally {
      await t.close();
    }
  });
});

import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { ConnectorItem, ConnectorItemState } from '../../src/connector/connector-item.entity';
import { ConnectorRun, ConnectorRunStatus } from '../../src/connector/connector-run.entity';
import { ConnectorRunner } from '../../src/connector/connector-runner.service';
import { alertIdOf } from '../../src/connector/connector-sync';
import { ConnectorWorkload } from '../../src/connector/connector-workload.entity';
import { OrganizationMapping } from '../../src/tenant-mapping/organization-mapping.entity';
import { createTree, mapOrganization, Tree } from '../factories/organizations';
import { FakeAcronisApi, FakeOperation, replies, startFakeAcronisApi } from '../fakes/fake-acronis-api';
import { callback } from '../setup/callback-client';
import { connectorEnv } from '../setup/connector-env';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';
import { createTestDatabase, TestDatabase } from '../setup/test-database';

type Json = Record<string, unknown>;

const ROUTE = '/api/connector/items';
const TYPE = 'cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.virtual_machine.v1.0';

const workload = (key: string, name = `vm-${key}`, attributes: Json = { os: 'linux' }): Json => ({ key, type: TYPE, name, attributes });
const alert = (n: number | string): Json => ({
  type: 'cti.a.p.am.alert.v1.0~a.p.basic.v1.0~vendor.app.malware_detected.v1.0',
  category: 'cti.a.p.am.category.v1.0~vendor.app.protection.v1.0',
  details: { title: 'Malware Quarantined', category: 'Malware Detected', description: `trojan-${n}.exe` },
});
const workloadItem = (body: Json): Json => ({ idempotency_key: randomUUID(), kind: 'workload', workload: body });
const alertItem = (key: string, n: number | string = key): Json => ({ idempotency_key: key, kind: 'alert', alert: alert(n) });
const dismissal = (alertKey: string): Json => ({ idempotency_key: randomUUID(), kind: 'alert_dismissal', alert_dismissal: { alert_key: alertKey } });
const removal = (key: string, type = TYPE): Json => ({ idempotency_key: randomUUID(), kind: 'workload_removal', workload_removal: { type, key } });

describe('connector sync: workloads by key, alerts once and dismissed, clean-up, data centers', () => {
  let api: FakeAcronisApi;
  let second: FakeAcronisApi;
  let t: TestApp;
  let tree: Tree;
  let auth: string;
  let database: TestDatabase;

  beforeAll(async () => {
    api = await startFakeAcronisApi();
    second = await startFakeAcronisApi({ clientId: api.clientId, clientSecret: api.clientSecret });
    database = await createTestDatabase();
    t = await createTestApp(connectorEnv(api, { ACRONIS_DC_ALLOWED_HOSTS: 'http://127.0.0.1,*.acronis.com' }), database);
    tree = await createTree(t.dataSource);
    auth = cyberAppAuth('partner', tree.password);
  });
  afterAll(async () => {
    await t.close();
    await database.drop();
    await api.close();
    await second.close();
  });
  beforeEach(async () => {
    api.reset();
    second.reset();
    for (const table of ['connector_items', 'connector_workloads', 'connector_runs', 'organizations_mapping', 'leases']) await t.dataSource.query(`DELETE FROM ${table}`);
  });
  afterEach(() => {
    // A DELETE without an id filter would dismiss or delete a whole tenant's: never sent.
    expect(api.violations).toEqual([]);
    expect(second.violations).toEqual([]);
  });

  const submit = (organizationId: string, items: Json[], as = auth) =>
    request(t.server).post(ROUTE).set('X-CyberApp-Auth', as).send({ organization_id: organizationId, items });
  async function run(app: TestApp = t): Promise<ConnectorRun> {
    const result = await app.app.get(ConnectorRunner).runOnce('cli');
    if (!result) throw new Error('runOnce did not run');
    expect(result.status).toBe(ConnectorRunStatus.Completed);
    return result;
  }
  /** Requests of the given operations since the last reset, token requests left out. */
  const calls = (fake: FakeAcronisApi, ...operations: FakeOperation[]) => fake.requests.filter((r) => operations.includes(r.operation));
  const apiCalls = (fake: FakeAcronisApi = api) => fake.requests.filter((r) => r.operation !== 'token');
  const row = (key: string) => t.dataSource.getRepository(ConnectorWorkload).findOneByOrFail({ vendorKey: key });
  const itemOf = (organizationId: string, idempotencyKey: string) => t.dataSource.getRepository(ConnectorItem).findOneByOrFail({ organizationId, idempotencyKey });
  const customer = () => tree.customers[0].id;

  async function mapped(organizationId = customer(), dcUrl: string | null = null): Promise<string> {
    const tenant = randomUUID();
    await mapOrganization(t.dataSource, organizationId, tenant, dcUrl);
    return tenant;
  }

  describe('workloads', () => {
    it('over five cycles creates each device once, sends nothing when unchanged and PATCHes by id on change', async () => {
      const tenant = await mapped();
      const cycle = async (bodies: Json[]) => {
        api.forgetRequests();
        await submit(customer(), bodies.map(workloadItem)).expect(202);
        await run();
      };

      // 1: three new devices: one listing of the tenant's workloads of that type, three creates.
      await cycle([workload('d1'), workload('d2'), workload('d3')]);
      expect(calls(api, 'workload-lookup')).toHaveLength(1);
      expect(calls(api, 'workload-push')).toHaveLength(3);
      expect(api.workloadsIn(tenant).map((w) => [w.attributes.vendor_key, w.name, w.attributes.os]).sort()).toEqual([
        ['d1', 'vm-d1', 'linux'],
        ['d2', 'vm-d2', 'linux'],
        ['d3', 'vm-d3', 'linux'],
      ]);
      expect(api.workloadsIn(tenant).every((w) => w.client_id === api.clientId && w.enabled)).toBe(true);

      // 2: the same again (new idempotency keys): nothing is sent, not even a token request.
      await cycle([workload('d1'), workload('d2'), workload('d3')]);
      expect(api.requests).toEqual([]);
      const replayed = await t.dataSource.getRepository(ConnectorItem).find({ where: { state: ConnectorItemState.Sent } });
      expect(replayed).toHaveLength(6);

      // 3: d2 changed: its id is not known yet (a create answers none), so it is looked up, then PATCHed.
      await cycle([workload('d1'), workload('d2', 'vm-d2-renamed', { os: 'windows' }), workload('d3')]);
      expect(apiCalls().map((r) => r.operation)).toEqual(['workload-lookup', 'workload-update']);
      const d2 = api.workloadsIn(tenant).find((w) => w.attributes.vendor_key === 'd2');
      expect(d2).toMatchObject({ name: 'vm-d2-renamed', attributes: { os: 'windows', vendor_key: 'd2' } });
      expect(calls(api, 'workload-update')[0].path).toBe(`/api/workload_management/v5/workloads/${d2?.id}`);
      expect(await row('d2')).toMatchObject({ remoteId: d2?.id, acronisTenantId: tenant });

      // 4: d2 changed again: PATCH by the remembered id, no lookup.
      await cycle([workload('d2', 'vm-d2-again', { os: 'windows' })]);
      expect(apiCalls().map((r) => r.operation)).toEqual(['workload-update']);

      // 5: unchanged: nothing.
      await cycle([workload('d1'), workload('d2', 'vm-d2-again', { os: 'windows' }), workload('d3')]);
      expect(apiCalls()).toEqual([]);

      expect(api.workloadsIn(tenant)).toHaveLength(3);
      expect(api.store.workloads().map((w) => w.attributes.vendor_key).sort()).toEqual(['d1', 'd2', 'd3']);
    });

    it('updates a workload that already exists with the key instead of creating one', async () => {
      const tenant = await mapped();
      const existing = api.store.addWorkload({ type: TYPE, name: 'old', tenant_id: tenant, attributes: { vendor_key: 'd9', os: 'old' } });
      api.store.addWorkload({ type: TYPE, name: 'someone else', tenant_id: tenant, attributes: { vendor_key: 'other' } });
      await submit(customer(), [workloadItem(workload('d9'))]).expect(202);
      await run();
      expect(apiCalls().map((r) => r.operation)).toEqual(['workload-lookup', 'workload-update']);
      expect(api.store.workload(existing.id)).toMatchObject({ name: 'vm-d9', attributes: { os: 'linux', vendor_key: 'd9' } });
      expect(api.workloadsIn(tenant)).toHaveLength(2);
    });

    it('follows the listing across pages to find the key', async () => {
      const tenant = await mapped();
      for (let i = 0; i < 230; i++) api.store.addWorkload({ type: TYPE, name: `n${i}`, tenant_id: tenant, attributes: { vendor_key: `k${i}` } });
      await submit(customer(), [workloadItem(workload('k229'))]).expect(202);
      await run();
      expect(calls(api, 'workload-lookup')).toHaveLength(3);
      expect(calls(api, 'workload-push')).toHaveLength(0);
      expect(api.workloadsIn(tenant)).toHaveLength(230);
      expect(api.workloadsIn(tenant).find((w) => w.attributes.vendor_key === 'k229')?.name).toBe('vm-k229');
    });

    it('never creates twice when a create got through but its answer was lost', async () => {
      const tenant = await mapped();
      api.enqueue('workloads', replies.applied(replies.reset()));
      await submit(customer(), [workloadItem(workload('lost'))]).expect(202);
      await run();
      // The retry looked up afresh (not from the pass's cached listing), found it, and PATCHed it.
      expect(apiCalls().map((r) => r.operation)).toEqual(['workload-lookup', 'workload-push', 'workload-lookup', 'workload-update']);
      expect(api.workloadsIn(tenant)).toHaveLength(1);
      expect(await row('lost')).toMatchObject({ remoteId: api.workloadsIn(tenant)[0].id });
    });

    it('creates the workload again when it was deleted at Acronis meanwhile', async () => {
      const tenant = await mapped();
      await submit(customer(), [workloadItem(workload('gone'))]).expect(202);
      await run();
      await submit(customer(), [workloadItem(workload('gone', 'vm-gone-2'))]).expect(202);
      await run();
      const first = api.workloadsIn(tenant)[0];
      // Someone deletes it in the Acronis console.
      const token = await request(api.url)
        .post('/bc/idp/token')
        .auth(api.clientId, api.clientSecret)
        .type('form')
        .send({ grant_type: 'client_credentials' })
        .expect(200);
      await request(api.url)
        .delete(`/api/workload_management/v5/workloads?workload_id=${first.id}`)
        .set('Authorization', `Bearer ${(token.body as { access_token: string }).access_token}`)
        .expect(204);
      api.forgetRequests();
      await submit(customer(), [workloadItem(workload('gone', 'vm-gone-3'))]).expect(202);
      await run();
      expect(apiCalls().map((r) => r.operation)).toEqual(['workload-update', 'workload-lookup', 'workload-push']);
      expect(api.workloadsIn(tenant).map((w) => w.name)).toEqual(['vm-gone-3']);
    });

    it('deletes a removed device by its id, and only that one', async () => {
      const tenant = await mapped();
      await submit(customer(), [workloadItem(workload('r1')), workloadItem(workload('r2'))]).expect(202);
      await run();
      api.forgetRequests();
      await submit(customer(), [removal('r1')]).expect(202);
      await run();
      // The id was unknown (a create answers none): looked up by key first.
      expect(apiCalls().map((r) => r.operation)).toEqual(['workload-lookup', 'workload-delete']);
      const deleted = calls(api, 'workload-delete')[0];
      expect(deleted.query.workload_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(api.workloadsIn(tenant).map((w) => w.attributes.vendor_key)).toEqual(['r2']);
      expect(await row('r1')).toMatchObject({ deleted: true, acronisTenantId: null, remoteId: null });
      // Submitted again later: created again.
      await submit(customer(), [workloadItem(workload('r1'))]).expect(202);
      await run();
      expect(api.workloadsIn(tenant).map((w) => w.attributes.vendor_key).sort()).toEqual(['r1', 'r2']);
    });
  });

  describe('alerts', () => {
    it('creates each alert with an id derived from its item, once, with _source and _sourceTimeStamp', async () => {
      const tenant = await mapped();
      const res = await submit(customer(), [alertItem('a1'), alertItem('a2')]).expect(202);
      await run();
      await run();
      const ids = (res.body.items as Json[]).map((i) => alertIdOf(i.id as string));
      expect(api.alertsIn(tenant).map((a) => a.id).sort()).toEqual([...ids].sort());
      for (const stored of api.alertsIn(tenant)) expect(stored).toMatchObject({ _source: 'cyberapp-gateway', _sourceTimeStamp: expect.any(Number), deletedAt: null });
      expect(calls(api, 'alert-push')).toHaveLength(2);
      expect(calls(api, 'alert-lookup')).toHaveLength(0);
    });

    it('looks an alert up by its id instead of creating it again when the answer was lost', async () => {
      const tenant = await mapped();
      api.enqueue('alerts', replies.applied(replies.serverError(502)));
      await submit(customer(), [alertItem('lost')]).expect(202);
      await run();
      expect(apiCalls().map((r) => r.operation)).toEqual(['alert-push', 'alert-lookup']);
      expect(api.alertsIn(tenant)).toHaveLength(1);
      expect(await itemOf(customer(), 'lost')).toMatchObject({ state: ConnectorItemState.Sent, remoteId: api.alertsIn(tenant)[0].id });
    });

    it('sends an alert whose first answer was a timeout-like failure that created nothing, once', async () => {
      const tenant = await mapped();
      api.enqueue('alerts', replies.reset());
      await submit(customer(), [alertItem('reset')]).expect(202);
      await run();
      expect(apiCalls().map((r) => r.operation)).toEqual(['alert-push', 'alert-lookup', 'alert-push']);
      expect(api.alertsIn(tenant)).toHaveLength(1);
    });

    it('dismisses a sent alert by its id, and cancels one not sent yet', async () => {
      const tenant = await mapped();
      await submit(customer(), [alertItem('d1')]).expect(202);
      await run();
      api.forgetRequests();
      await submit(customer(), [dismissal('d1')]).expect(202);
      await run();
      const id = api.alertsIn(tenant)[0].id;
      expect(apiCalls().map((r) => [r.method, r.path])).toEqual([['DELETE', `/api/alert_manager/v1/alerts/${id}`]]);
      expect(api.store.alert(id)?.deletedAt).toEqual(expect.any(String));
      expect((await itemOf(customer(), 'd1')).dismissedAt).toBeInstanceOf(Date);
      // Dismissed again: nothing more is sent.
      api.forgetRequests();
      await submit(customer(), [dismissal('d1')]).expect(202);
      await run();
      expect(apiCalls()).toEqual([]);

      // An alert whose organization is not mapped yet, dismissed before it could be sent: cancelled, never sent.
      const waiting = tree.customers[1].id;
      await submit(waiting, [alertItem('early')]).expect(202);
      await submit(waiting, [dismissal('early')]).expect(202);
      await run();
      expect(await itemOf(waiting, 'early')).toMatchObject({ state: ConnectorItemState.Cancelled });
      await mapped(waiting);
      await run();
      expect(calls(api, 'alert-push')).toHaveLength(0);
    });
  });

  describe('unmapping cleans up', () => {
    it('dismisses the open alerts and deletes the workloads the gateway wrote in a tenant that was unmapped', async () => {
      const tenant = await mapped();
      const kept = await mapped(tree.customers[1].id);
      await submit(customer(), [alertItem('u1'), alertItem('u2'), workloadItem(workload('w1')), workloadItem(workload('w2'))]).expect(202);
      await submit(tree.customers[1].id, [alertItem('k1'), workloadItem(workload('kw'))]).expect(202);
      await run();
      await submit(customer(), [dismissal('u2')]).expect(202);
      await run();
      expect(api.alertsIn(tenant).filter((a) => a.deletedAt === null)).toHaveLength(1);
      expect(api.workloadsIn(tenant)).toHaveLength(2);

      // The platform unmaps the customer (tenant_mapping.write with no acronis_tenant_id).
      await callback(t, { login: 'partner', password: tree.password }, 'tenant_mapping.write', { modified: [{ vendor_tenant_id: customer() }] }).expect(200);
      // Items queued meanwhile wait instead of going anywhere.
      await submit(customer(), [alertItem('after')]).expect(202);
      api.forgetRequests();
      await run();
      expect(api.alertsIn(tenant).filter((a) => a.deletedAt === null)).toEqual([]);
      expect(api.workloadsIn(tenant)).toEqual([]);
      expect(calls(api, 'alert-dismissal')).toHaveLength(1);
      expect(calls(api, 'alert-push')).toHaveLength(0);
      expect(await itemOf(customer(), 'after')).toMatchObject({ state: ConnectorItemState.Pending, waitingReason: expect.stringContaining('not mapped') });
      // The other tenant is untouched.
      expect(api.alertsIn(kept).filter((a) => a.deletedAt === null)).toHaveLength(1);
      expect(api.workloadsIn(kept)).toHaveLength(1);
      // Nothing left to clean: the next run sends nothing.
      api.forgetRequests();
      await run();
      expect(apiCalls()).toEqual([]);
    });

    it('leaves them in place with CONNECTOR_CLEANUP_ON_UNMAP=false', async () => {
      const tenant = await mapped();
      await submit(customer(), [alertItem('n1'), workloadItem(workload('nw'))]).expect(202);
      await run();
      await t.dataSource.getRepository(OrganizationMapping).delete({ organizationId: customer() });
      // A replica with the clean-up off, on the same database.
      const off = await createTestApp(connectorEnv(api, { ACRONIS_DC_ALLOWED_HOSTS: 'http://127.0.0.1,*.acronis.com', CONNECTOR_CLEANUP_ON_UNMAP: 'false' }), database);
      try {
        api.forgetRequests();
        await run(off);
        expect(apiCalls()).toEqual([]);
        expect(api.alertsIn(tenant).filter((a) => a.deletedAt === null)).toHaveLength(1);
        expect(api.workloadsIn(tenant)).toHaveLength(1);
      } finally {
        await off.close();
      }
    });
  });

  describe('every data center', () => {
    it("sends each tenant's items to the data center of its mapping, with a token per data center", async () => {
      const home = await mapped(tree.customers[0].id, null);
      const away = await mapped(tree.customers[1].id, second.url);
      await submit(tree.customers[0].id, [alertItem('h'), workloadItem(workload('hw'))]).expect(202);
      await submit(tree.customers[1].id, [alertItem('a'), workloadItem(workload('aw'))]).expect(202);
      await run();
      expect(api.alertsIn(home)).toHaveLength(1);
      expect(api.workloadsIn(home)).toHaveLength(1);
      expect(second.alertsIn(away)).toHaveLength(1);
      expect(second.workloadsIn(away)).toHaveLength(1);
      expect(api.alertsIn(away)).toHaveLength(0);
      expect(second.alertsIn(home)).toHaveLength(0);
      // The second data center issued its own token (it refuses the first one's).
      expect(second.tokenRequests).toHaveLength(1);
      expect(second.requests.filter((r) => r.operation !== 'token').every((r) => r.token !== null && second.issuedTokens.includes(r.token))).toBe(true);
      expect(await itemOf(tree.customers[1].id, 'a')).toMatchObject({ acronisDcUrl: second.url, acronisTenantId: away });

      // Dismissed where it was sent.
      await submit(tree.customers[1].id, [dismissal('a')]).expect(202);
      await run();
      expect(second.alertsIn(away)[0].deletedAt).toEqual(expect.any(String));
    });

    it('never sends anything to a data center outside ACRONIS_DC_ALLOWED_HOSTS', async () => {
      await mapped(customer(), 'https://collector.evil.example');
      await submit(customer(), [alertItem('x'), workloadItem(workload('xw'))]).expect(202);
      await run();
      expect(api.requests).toEqual([]);
      const refused = await itemOf(customer(), 'x');
      expect(refused).toMatchObject({ state: ConnectorItemState.Failed, lastError: expect.stringContaining('not an allowed Acronis data center') });
    });
  });

  describe('bad input', () => {
    it.each([
      ['a workload without a key', [{ idempotency_key: 'k', kind: 'workload', workload: { type: TYPE, name: 'n', attributes: {} } }], 400, 'items.1.workload.key'],
      ['a workload setting the key attribute itself', [workloadItem(workload('x', 'n', { vendor_key: 'forged' }))], 400, 'vendor_key is set by the gateway'],
      ['a dismissal of an unknown alert key', [dismissal('no-such-alert')], 404, 'alert_key names no alert'],
      ['a removal of an unknown device', [removal('no-such-device')], 404, 'names no workload'],
      ['a dismissal without its body', [{ idempotency_key: 'k', kind: 'alert_dismissal' }], 400, 'alert_dismissal'],
      ['a removal with a wrongly typed key', [{ idempotency_key: 'k', kind: 'workload_removal', workload_removal: { type: TYPE, key: 5 } }], 400, 'workload_removal.key'],
      ['a removal carrying a workload too', [{ ...removal('x'), workload: workload('x') }], 400, 'must not carry'],
    ])('refuses %s with a precise error and changes nothing', async (_name, items, status, message) => {
      await mapped();
      await submit(customer(), [alertItem('existing'), workloadItem(workload('existing'))]).expect(202);
      const before = await snapshot(t.dataSource);
      const res = await submit(customer(), [alertItem('fresh'), ...items]).expect(status);
      expect(res.body.err_message).toContain(message);
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it("refuses another partner's dismissals and removals of this partner's items (403) and changes nothing", async () => {
      await mapped();
      await submit(customer(), [alertItem('mine'), workloadItem(workload('mine'))]).expect(202);
      const before = await snapshot(t.dataSource);
      const other = cyberAppAuth('other', 'other-password');
      await submit(customer(), [dismissal('mine')], other).expect(403);
      await submit(customer(), [removal('mine')], other).expect(403);
      // Its own organization does not see this partner's keys either.
      await submit(tree.otherCustomer.id, [dismissal('mine')], other).expect(404);
      await submit(tree.otherCustomer.id, [removal('mine')], other).expect(404);
      expect(await snapshot(t.dataSource)).toEqual(before);
    });
  });
});

import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { ConnectorItem, ConnectorItemState } from '../../src/connector/connector-item.entity';
import { ConnectorRun } from '../../src/connector/connector-run.entity';
import { ConnectorRunner } from '../../src/connector/connector-runner.service';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { createItems } from '../factories/connector-items';
import { createOrganization, createUser, mapOrganization } from '../factories/organizations';
import { FakeAcronisApi, replies, startFakeAcronisApi } from '../fakes/fake-acronis-api';
import { connectorEnv } from '../setup/connector-env';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { eventually } from '../setup/eventually';
import { cyberAppAuth } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

/**
 * `POST /api/connector/items/:id/send-now` and `GET /api/connector/runs` (the services the
 * console's connector pages call too), against the fake Acronis API.
 */
describe('connector send-now and runs APIs', () => {
  let api: FakeAcronisApi;
  let t: TestApp;
  const ids = { vendor: '', partner: '', customer: '', other: '' };

  beforeAll(async () => {
    api = await startFakeAcronisApi();
    t = await createTestApp(connectorEnv(api, { CONNECTOR_MAX_ATTEMPTS: '1' }));
    // One tree: the vendor (root) → a partner → its customer, and another partner.
    const vendor = await createOrganization(t.dataSource, { name: 'Vendor' });
    const partner = await createOrganization(t.dataSource, { parentId: vendor.id, name: 'Partner' });
    const customer = await createOrganization(t.dataSource, { parentId: partner.id, kind: OrganizationKind.Customer, name: 'Customer' });
    const other = await createOrganization(t.dataSource, { parentId: vendor.id, name: 'Other' });
    await mapOrganization(t.dataSource, customer.id);
    Object.assign(ids, { vendor: vendor.id, partner: partner.id, customer: customer.id, other: other.id });
    await createUser(t.dataSource, { organizationId: vendor.id, login: 'vendor', password: 'vendor-password' });
    await createUser(t.dataSource, { organizationId: partner.id, login: 'partner', password: 'partner-password' });
    await createUser(t.dataSource, { organizationId: other.id, login: 'other', password: 'other-password' });
  });
  afterAll(async () => {
    await t.close();
    await api.close();
  });

  const as = (login: 'vendor' | 'partner' | 'other') => ({
    get: (path: string) => request(t.server).get(path).set('X-CyberApp-Auth', cyberAppAuth(login, `${login}-password`)),
    post: (path: string) => request(t.server).post(path).set('X-CyberApp-Auth', cyberAppAuth(login, `${login}-password`)),
  });
  const itemOf = (id: string) => t.dataSource.getRepository(ConnectorItem).findOneByOrFail({ id });

  it('makes a failed item due at once and asks for a run, which sends it', async () => {
    const [item] = await createItems(t.dataSource, [{ organizationId: ids.customer }]);
    api.enqueue('alerts', replies.json(400, { error: 'bad_request', message: 'refused by the fake' }), 1);
    await t.app.get(ConnectorRunner).runOnce('cli');
    const failed = await itemOf(item.id);
    expect(failed).toMatchObject({ state: ConnectorItemState.Failed, attempts: 1, lastStatus: 400 });

    const res = await as('partner').post(`/api/connector/items/${item.id}/send-now`).expect(200);
    expect(res.body).toMatchObject({ id: item.id, state: 'pending', attempts: 1, last_status: 400, waiting_reason: null });
    expect(new Date(res.body.next_attempt_at as string).getTime()).toBeLessThanOrEqual(Date.now());
    // No run was started by hand: the request asked for one.
    const sent = await eventually(() => itemOf(item.id), (i) => i.state === ConnectorItemState.Sent);
    expect(sent).toMatchObject({ attempts: 2, lastStatus: 200 });
    expect(api.alerts).toHaveLength(2);
    // The requested run marks the item sent before it finishes (and writes its completion event):
    // wait for it to finish, so the snapshot below is not taken half-way through it.
    await eventually(
      () => t.dataSource.getRepository(ConnectorRun).find(),
      (runs) => runs.length >= 2 && runs.every((r) => r.finishedAt !== null),
    );

    // Sent: nothing to send again (409), nothing changed.
    const before = await snapshot(t.dataSource);
    const again = await as('partner').post(`/api/connector/items/${item.id}/send-now`).expect(409);
    expect(again.body.message).toBe('The item is sent: only pending and failed items can be sent now.');
    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it("answers 404 for another organization's item or an unknown one, changing nothing", async () => {
    const [item] = await createItems(t.dataSource, [{ organizationId: ids.customer }]);
    await t.dataSource.getRepository(ConnectorItem).update({ id: item.id }, { state: ConnectorItemState.Failed, nextAttemptAt: new Date(Date.now() + 3_600_000) });
    const before = await snapshot(t.dataSource);
    expect((await as('other').post(`/api/connector/items/${item.id}/send-now`).expect(404)).body.message).toBe('Connector item not found.');
    await as('partner').post(`/api/connector/items/${randomUUID()}/send-now`).expect(404);
    await as('partner').post(`/api/connector/items/${item.id}/send-now`).send({ now: true }).expect(400);
    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it('lists the runs newest first with their counts and duration, to root organization users only', async () => {
    const runs = await t.dataSource.getRepository(ConnectorRun).find({ order: { startedAt: 'DESC', id: 'DESC' } });
    expect(runs.length).toBeGreaterThanOrEqual(2);
    const page = (await as('vendor').get('/api/connector/runs').expect(200)).body;
    expect(page.items.map((r: { id: string }) => r.id)).toEqual(runs.map((r) => r.id));
    expect(page.items[0]).toEqual({
      id: runs[0].id,
      trigger: runs[0].trigger,
      holder: runs[0].holder,
      status: runs[0].status,
      started_at: runs[0].startedAt.toISOString(),
      finished_at: runs[0].finishedAt?.toISOString() ?? null,
      duration_ms: runs[0].finishedAt ? runs[0].finishedAt.getTime() - runs[0].startedAt.getTime() : null,
      sent: runs[0].sent,
      failed: runs[0].failed,
      skipped: runs[0].skipped,
      error: runs[0].error,
    });
    const first = (await as('vendor').get('/api/connector/runs?limit=1').expect(200)).body;
    expect(first.next_before).toBe(runs[0].id);
    const second = (await as('vendor').get(`/api/connector/runs?limit=1&before=${first.next_before as string}`).expect(200)).body;
    expect(second.items[0].id).toBe(runs[1].id);
    await as('vendor').get(`/api/connector/runs?before=${randomUUID()}`).expect(400);

    // The runs are the vendor's global passes: to a partner they do not exist.
    expect((await as('partner').get('/api/connector/runs').expect(404)).body.message).toBe('Connector runs not found.');
  });
});

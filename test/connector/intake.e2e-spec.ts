import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { ConnectorItem } from '../../src/connector/connector-item.entity';
import { ConnectorRunRequest, ConnectorTrigger } from '../../src/connector/connector-trigger.service';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { createOrganization, createTree, createUser, Tree } from '../factories/organizations';
import { errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

const MAX_BATCH = 5;
const ROUTE = '/api/connector/items';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

type Json = Record<string, unknown>;

const alertBody = (n = 1): Json => ({
  type: 'cti.a.p.am.alert.v1.0~a.p.basic.v1.0~vendor.app.malware_detected.v1.0',
  category: 'cti.a.p.am.category.v1.0~vendor.app.protection.v1.0',
  details: {
    title: 'Malware Quarantined',
    category: 'Malware Detected',
    description: `Malicious file "trojan${n}.exe" was put into quarantine.`,
    fields: { 'Malware type': 'Trojan', 'Device ID': `device-${n}`, 'Full path': `C:\\Temp\\trojan${n}.exe` },
  },
});

const workloadBody = (n = 1): Json => ({
  key: `device-${n}`,
  type: 'cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.virtual_machine.v1.0',
  name: `vm-${n}`,
  attributes: { os: 'linux', cores: 4, tags: ['prod'] },
});

const alertItem = (key: string = randomUUID(), n = 1): Json => ({ idempotency_key: key, kind: 'alert', alert: alertBody(n) });
const workloadItem = (key: string = randomUUID(), n = 1): Json => ({ idempotency_key: key, kind: 'workload', workload: workloadBody(n) });

describe('connector intake API', () => {
  let t: TestApp;
  let tree: Tree;
  let partnerAuth: string;
  let otherAuth: string;
  let subPartnerAuth: string;

  beforeAll(async () => {
    t = await createTestApp({ CONNECTOR_INTAKE_MAX_BATCH: String(MAX_BATCH), BODY_LIMIT_BYTES: '16384' });
    tree = await createTree(t.dataSource);
    await createUser(t.dataSource, { organizationId: tree.subPartner.id, login: 'sub', password: 'sub-password' });
    partnerAuth = cyberAppAuth('partner', tree.password);
    otherAuth = cyberAppAuth('other', 'other-password');
    subPartnerAuth = cyberAppAuth('sub', 'sub-password');
  });
  afterAll(() => t.close());

  const post = (body: unknown, auth: string | null = partnerAuth) => {
    const req = request(t.server).post(ROUTE);
    if (auth) req.set('X-CyberApp-Auth', auth);
    return req.send(body as object);
  };
  const get = (path: string, auth: string | null = partnerAuth) => {
    const req = request(t.server).get(`${ROUTE}${path}`);
    if (auth) req.set('X-CyberApp-Auth', auth);
    return req;
  };
  const items = () => t.dataSource.getRepository(ConnectorItem);
  const batch = (organizationId: string, list: Json[], extra: Json = {}): Json => ({ organization_id: organizationId, items: list, ...extra });

  describe('submitting', () => {
    it('stores an alert and a workload as pending intake items and answers 202 with their ids', async () => {
      const [a, w] = [randomUUID(), randomUUID()];
      const started = Date.now();
      const res = await post(batch(tree.customers[0].id, [alertItem(a), workloadItem(w)])).expect(202);
      expect(res.body).toEqual({
        items: [
          { id: expect.stringMatching(UUID), idempotency_key: a, kind: 'alert', state: 'pending', created: true },
          { id: expect.stringMatching(UUID), idempotency_key: w, kind: 'workload', state: 'pending', created: true },
        ],
      });
      const alert = await items().findOneByOrFail({ id: res.body.items[0].id });
      expect(alert).toMatchObject({
        organizationId: tree.customers[0].id,
        kind: 'alert',
        source: 'intake',
        idempotencyKey: a,
        state: 'pending',
        attempts: 0,
        body: alertBody(),
        lockedUntil: null,
        acronisTenantId: null,
        sentAt: null,
      });
      expect(alert.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(alert.nextAttemptAt.getTime()).toBeGreaterThanOrEqual(started - 1000);
      expect(alert.nextAttemptAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      const workload = await items().findOneByOrFail({ id: res.body.items[1].id });
      expect(workload).toMatchObject({ kind: 'workload', state: 'pending', idempotencyKey: w });
    });

    it('fills in workload defaults: allowed_actions [] and enabled true', async () => {
      const res = await post(batch(tree.customers[0].id, [workloadItem()])).expect(202);
      const stored = await items().findOneByOrFail({ id: res.body.items[0].id });
      expect(stored.body).toEqual({ ...workloadBody(), allowed_actions: [], enabled: true });
    });

    it('keeps ResourceID and ResourceName when both are given', async () => {
      const alert = { ...alertBody(), ResourceID: 'res-1', ResourceName: 'Server 1' };
      const res = await post(batch(tree.customers[0].id, [{ idempotency_key: randomUUID(), kind: 'alert', alert }])).expect(202);
      const stored = await items().findOneByOrFail({ id: res.body.items[0].id });
      expect(stored.body).toEqual({ ...alertBody(), ResourceID: 'res-1', ResourceName: 'Server 1' });
    });

    it('refuses unknown fields of an item and of its alert with 400 naming them, storing nothing', async () => {
      const before = await snapshot(t.dataSource);
      const alert = { ...alertBody(), ResourceID: 'res-1', ResourceName: 'Server 1', severity: 'critical' };
      const res = await post(batch(tree.customers[0].id, [{ idempotency_key: randomUUID(), kind: 'alert', alert, note: 'x' }])).expect(400);
      expect(res.body).toEqual(errorEnvelope('VALIDATION_FAILED'));
      expect(res.body.err_message).toContain('unknown field items.0.note');
      expect(res.body.err_message).toContain('unknown field items.0.alert.severity');
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it("accepts the caller's own organization and any organization below it", async () => {
      for (const org of [tree.partner, tree.customers[1], tree.subPartner, tree.subCustomer]) {
        const res = await post(batch(org.id, [alertItem()])).expect(202);
        expect((await items().findOneByOrFail({ id: res.body.items[0].id })).organizationId).toBe(org.id);
      }
    });

    it('accepts a batch of exactly the configured maximum', async () => {
      const list = Array.from({ length: MAX_BATCH }, (_, i) => alertItem(randomUUID(), i));
      const res = await post(batch(tree.customers[0].id, list)).expect(202);
      expect(res.body.items).toHaveLength(MAX_BATCH);
    });

    it('answers a replayed batch with the same ids, created false, and stores nothing new', async () => {
      const body = batch(tree.customers[0].id, [alertItem(), workloadItem()]);
      const first = await post(body).expect(202);
      const before = await snapshot(t.dataSource);
      const again = await post(body).expect(202);
      expect(again.body.items).toEqual(first.body.items.map((i: Json) => ({ ...i, created: false })));
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('treats the same body with other key order or explicit defaults as a replay', async () => {
      const key = randomUUID();
      const first = await post(batch(tree.customers[0].id, [workloadItem(key)])).expect(202);
      const { type, name, attributes } = workloadBody() as { type: string; name: string; attributes: Json };
      const reordered = { enabled: true, allowed_actions: [], attributes: { tags: ['prod'], cores: 4, os: 'linux' }, name, type, key: 'device-1' };
      expect(attributes).toEqual(reordered.attributes);
      const again = await post(batch(tree.customers[0].id, [{ workload: reordered, kind: 'workload', idempotency_key: key }])).expect(202);
      expect(again.body.items).toEqual([{ ...first.body.items[0], created: false }]);
    });

    it('stores only the new items of a batch that mixes replayed and new keys, answering in request order', async () => {
      const old = alertItem();
      const first = await post(batch(tree.customers[0].id, [old])).expect(202);
      const fresh = workloadItem();
      const res = await post(batch(tree.customers[0].id, [fresh, old])).expect(202);
      expect(res.body.items[0]).toMatchObject({ idempotency_key: fresh.idempotency_key, created: true });
      expect(res.body.items[1]).toEqual({ ...first.body.items[0], created: false });
      expect(await items().countBy({ idempotencyKey: old.idempotency_key as string })).toBe(1);
    });

    it('answers a replay with the current state of the stored item', async () => {
      const item = alertItem();
      const first = await post(batch(tree.customers[0].id, [item])).expect(202);
      await items().update({ id: first.body.items[0].id }, { state: 'sent' as ConnectorItem['state'], sentAt: new Date() });
      const again = await post(batch(tree.customers[0].id, [item])).expect(202);
      expect(again.body.items[0]).toMatchObject({ id: first.body.items[0].id, state: 'sent', created: false });
    });

    it('scopes idempotency keys per organization: the same key elsewhere is a new item', async () => {
      const key = randomUUID();
      const a = await post(batch(tree.customers[0].id, [alertItem(key)])).expect(202);
      const b = await post(batch(tree.customers[1].id, [alertItem(key)])).expect(202);
      expect(b.body.items[0].created).toBe(true);
      expect(b.body.items[0].id).not.toBe(a.body.items[0].id);
    });

    it('refuses a key reused with a different body (409) and stores nothing of the batch', async () => {
      const key = randomUUID();
      await post(batch(tree.customers[0].id, [alertItem(key, 1)])).expect(202);
      const before = await snapshot(t.dataSource);
      const res = await post(batch(tree.customers[0].id, [workloadItem(), alertItem(key, 2)])).expect(409);
      expect(res.body).toMatchObject(errorEnvelope('IDEMPOTENCY_KEY_REUSED'));
      expect(res.body.err_message).toContain('items.1.idempotency_key');
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('refuses a key reused for the other kind (409)', async () => {
      const key = randomUUID();
      await post(batch(tree.customers[0].id, [alertItem(key)])).expect(202);
      const res = await post(batch(tree.customers[0].id, [workloadItem(key)])).expect(409);
      expect(res.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    });
  });

  describe('send_now', () => {
    let requests: ConnectorRunRequest[];
    let unsubscribe: () => void;

    beforeEach(() => {
      requests = [];
      const subscription = t.app.get(ConnectorTrigger).requests$.subscribe((r) => requests.push(r));
      unsubscribe = () => subscription.unsubscribe();
    });
    afterEach(() => unsubscribe());

    it('asks the connector for a run when send_now is true, naming the items', async () => {
      const res = await post(batch(tree.customers[0].id, [alertItem(), workloadItem()], { send_now: true })).expect(202);
      expect(requests).toEqual([{ reason: 'intake', organizationId: tree.customers[0].id, itemIds: res.body.items.map((i: Json) => i.id) }]);
    });

    it('does not ask for a run without send_now, or with send_now false', async () => {
      await post(batch(tree.customers[0].id, [alertItem()])).expect(202);
      await post(batch(tree.customers[0].id, [alertItem()], { send_now: false })).expect(202);
      expect(requests).toEqual([]);
    });

    it('does not ask for a run when the batch is refused', async () => {
      await post(batch(tree.other.id, [alertItem()], { send_now: true })).expect(403);
      expect(requests).toEqual([]);
    });
  });

  describe('reading', () => {
    let org: string;
    let ids: string[];

    beforeAll(async () => {
      // A fresh customer so that the listing holds exactly these items, newest last submitted.
      org = (await createOrganization(t.dataSource, { kind: OrganizationKind.Customer, parentId: tree.partner.id })).id;
      ids = [];
      for (let i = 0; i < 5; i++) {
        const res = await post(batch(org, [i % 2 === 0 ? alertItem(`key-${i}`, i) : workloadItem(`key-${i}`, i)])).expect(202);
        ids.push(res.body.items[0].id);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      ids.reverse();
    });

    it('lists the items of an organization newest first, with every field in snake_case', async () => {
      const res = await get(`?organization_id=${org}`).expect(200);
      expect(res.body.items.map((i: Json) => i.id)).toEqual(ids);
      expect(res.body.next_before).toBeNull();
      expect(res.body.items[0]).toEqual({
        id: ids[0],
        organization_id: org,
        kind: 'alert',
        source: 'intake',
        idempotency_key: 'key-4',
        state: 'pending',
        attempts: 0,
        next_attempt_at: expect.stringMatching(ISO),
        last_status: null,
        last_error: null,
        waiting_reason: null,
        remote_id: null,
        acronis_tenant_id: null,
        acronis_dc_url: null,
        dismissed_at: null,
        created_at: expect.stringMatching(ISO),
        updated_at: expect.stringMatching(ISO),
        sent_at: null,
      });
    });

    it('filters by kind and by state', async () => {
      const workloads = await get(`?organization_id=${org}&kind=workload`).expect(200);
      expect(workloads.body.items.map((i: Json) => i.idempotency_key)).toEqual(['key-3', 'key-1']);
      await items().update({ id: ids[2] }, { state: 'failed' as ConnectorItem['state'], lastStatus: 400, lastError: 'Bad Request' });
      const failed = await get(`?organization_id=${org}&state=failed`).expect(200);
      expect(failed.body.items).toEqual([expect.objectContaining({ id: ids[2], state: 'failed', last_status: 400, last_error: 'Bad Request' })]);
      await items().update({ id: ids[2] }, { state: 'pending' as ConnectorItem['state'], lastStatus: null, lastError: null });
    });

    it('pages with limit and before, ending with next_before null', async () => {
      const seen: string[] = [];
      let before: string | null = null;
      let pages = 0;
      do {
        const cursor: string = before ? `&before=${before}` : '';
        const res = await get(`?organization_id=${org}&limit=2${cursor}`).expect(200);
        seen.push(...res.body.items.map((i: Json) => i.id));
        before = res.body.next_before;
        pages++;
      } while (before !== null && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(ids);
    });

    it("lists every organization of the caller's subtree when no organization is given", async () => {
      const sub = await post(batch(tree.subCustomer.id, [alertItem()])).expect(202);
      const res = await get('?limit=500').expect(200);
      const listed = res.body.items.map((i: Json) => i.id);
      expect(listed).toEqual(expect.arrayContaining([...ids, sub.body.items[0].id]));
      const orgs = new Set(res.body.items.map((i: Json) => i.organization_id));
      expect(orgs.has(tree.other.id) || orgs.has(tree.otherCustomer.id)).toBe(false);
    });

    it('reads one item with the body it was submitted with', async () => {
      const res = await get(`/${ids[0]}`).expect(200);
      expect(res.body).toMatchObject({ id: ids[0], organization_id: org, kind: 'alert', idempotency_key: 'key-4', alert: alertBody(4) });
      expect(res.body.workload).toBeUndefined();
      const workload = await get(`/${ids[1]}`).expect(200);
      expect(workload.body.workload).toEqual({ ...workloadBody(3), allowed_actions: [], enabled: true });
    });

    it('shows a sub-partner only its own subtree', async () => {
      const mine = await post(batch(tree.subCustomer.id, [alertItem()]), subPartnerAuth).expect(202);
      const res = await get('?limit=500', subPartnerAuth).expect(200);
      expect(res.body.items.map((i: Json) => i.id)).toContain(mine.body.items[0].id);
      expect(res.body.items.every((i: Json) => i.organization_id === tree.subPartner.id || i.organization_id === tree.subCustomer.id)).toBe(true);
      await get(`?organization_id=${org}`, subPartnerAuth).expect(403);
      await get(`/${ids[0]}`, subPartnerAuth).expect(404);
      await post(batch(tree.partner.id, [alertItem()]), subPartnerAuth).expect(403);
    });

    describe('across tenants', () => {
      it("answers 403 to another partner listing this partner's organization", async () => {
        const res = await get(`?organization_id=${org}`, otherAuth).expect(403);
        expect(res.body).toMatchObject(errorEnvelope('FORBIDDEN'));
      });

      it('answers 403 for an unknown organization, as for a foreign one', async () => {
        const res = await get(`?organization_id=${randomUUID()}`).expect(403);
        expect(res.body).toMatchObject(errorEnvelope('FORBIDDEN'));
      });

      it("answers 404 to another partner reading this partner's item, as for an unknown id", async () => {
        const foreign = await get(`/${ids[0]}`, otherAuth).expect(404);
        const unknown = await get(`/${randomUUID()}`, otherAuth).expect(404);
        expect(foreign.body).toMatchObject(errorEnvelope('NOT_FOUND'));
        expect({ ...foreign.body, response_id: null }).toEqual({ ...unknown.body, response_id: null });
      });

      it("never lists this partner's items to another partner", async () => {
        await post(batch(tree.otherCustomer.id, [alertItem()]), otherAuth).expect(202);
        const res = await get('?limit=500', otherAuth).expect(200);
        expect(res.body.items.length).toBeGreaterThan(0);
        expect(res.body.items.every((i: Json) => i.organization_id === tree.other.id || i.organization_id === tree.otherCustomer.id)).toBe(true);
      });

      it("refuses another partner's item as a cursor (400)", async () => {
        const res = await get(`?before=${ids[0]}`, otherAuth).expect(400);
        expect(res.body).toMatchObject(errorEnvelope('VALIDATION_FAILED'));
      });
    });

    it.each([
      ['limit=0', 'query.limit'],
      ['limit=501', 'query.limit'],
      ['limit=abc', 'query.limit'],
      ['limit=1.5', 'query.limit'],
      ['state=lost', 'query.state'],
      ['kind=incident', 'query.kind'],
      ['state=pending&state=sent', 'query.state'],
      [`before=${randomUUID()}`, 'before'],
      // Not ids at all (the column is varchar(36)): refused like an unknown one, never a database error.
      ['before=not-an-item-id', 'before'],
      [`before=${'x'.repeat(64)}`, 'before'],
      ['organization_id=%00', 'query.organization_id'],
    ])('answers 400 for the query %s', async (query, field) => {
      const res = await get(`?${query}`).expect(400);
      expect(res.body).toMatchObject(errorEnvelope('VALIDATION_FAILED'));
      expect(res.body.err_message).toContain(field);
    });

    it('answers 404 for an id that cannot be an item id', async () => {
      await get('/%00').expect(404);
      await get('/%0A').expect(404);
      await get(`/${'x'.repeat(90)}`).expect(404);
    });
  });

  describe('bad input', () => {
    let before: Record<string, unknown[]>;

    beforeEach(async () => {
      before = await snapshot(t.dataSource);
    });
    afterEach(async () => {
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    const valid = (): Json => batch(tree.customers[0].id, [alertItem(), workloadItem()]);
    const item = (b: Json, i: number): Json => (b.items as Json[])[i];
    const alertOf = (b: Json): Json => item(b, 0).alert as Json;
    const workloadOf = (b: Json): Json => item(b, 1).workload as Json;
    const detailsOf = (b: Json): Json => alertOf(b).details as Json;

    it('answers 400 for malformed JSON', async () => {
      const res = await request(t.server).post(ROUTE).set('X-CyberApp-Auth', partnerAuth).set('Content-Type', 'application/json').send('{"items": [').expect(400);
      expect(res.body).toMatchObject(errorEnvelope('MALFORMED_REQUEST'));
    });

    it('answers 415 for a body that is not JSON', async () => {
      const res = await request(t.server).post(ROUTE).set('X-CyberApp-Auth', partnerAuth).set('Content-Type', 'text/plain').send('items').expect(415);
      expect(res.body).toMatchObject(errorEnvelope('UNSUPPORTED_MEDIA_TYPE'));
    });

    it.each([['[]'], ['"text"'], ['42'], ['null']])('answers 400 for a body that is not an object: %s', async (raw) => {
      const res = await request(t.server).post(ROUTE).set('X-CyberApp-Auth', partnerAuth).set('Content-Type', 'application/json').send(raw).expect(400);
      expect(['MALFORMED_REQUEST', 'VALIDATION_FAILED']).toContain(res.body.code);
    });

    const cases: Array<[string, (b: Json) => void, string]> = [
      ['organization_id missing', (b) => delete b.organization_id, 'organization_id'],
      ['organization_id a number', (b) => (b.organization_id = 42), 'organization_id'],
      ['organization_id empty', (b) => (b.organization_id = ''), 'organization_id'],
      ['organization_id with a control character', (b) => (b.organization_id = `${tree.customers[0].id}\u0001`), 'organization_id'],
      ['items missing', (b) => delete b.items, 'items'],
      ['items an object', (b) => (b.items = {}), 'items'],
      ['items empty', (b) => (b.items = []), 'items'],
      ['an item not an object', (b) => ((b.items as unknown[])[0] = 42), 'items'],
      ['send_now a string', (b) => (b.send_now = 'yes'), 'send_now'],
      ['idempotency_key missing', (b) => delete item(b, 0).idempotency_key, 'items.0.idempotency_key'],
      ['idempotency_key a number', (b) => (item(b, 0).idempotency_key = 7), 'items.0.idempotency_key'],
      ['idempotency_key empty', (b) => (item(b, 0).idempotency_key = ''), 'items.0.idempotency_key'],
      ['idempotency_key over 255 characters', (b) => (item(b, 0).idempotency_key = 'k'.repeat(256)), 'items.0.idempotency_key'],
      ['idempotency_key with a control character', (b) => (item(b, 0).idempotency_key = 'a\nb'), 'items.0.idempotency_key'],
      ['kind missing', (b) => delete item(b, 0).kind, 'items.0.kind'],
      ['kind unknown', (b) => (item(b, 0).kind = 'incident'), 'items.0.kind'],
      ['kind a number', (b) => (item(b, 0).kind = 1), 'items.0.kind'],
      ['alert missing', (b) => delete item(b, 0).alert, 'items.0.alert'],
      ['alert a string', (b) => (item(b, 0).alert = 'alert'), 'items.0.alert'],
      ['an alert item also carrying a workload', (b) => (item(b, 0).workload = workloadBody()), 'items.0.kind'],
      ['a workload item carrying an alert instead', (b) => (item(b, 1).alert = alertBody()), 'items.1.kind'],
      ['alert.type missing', (b) => delete alertOf(b).type, 'items.0.alert.type'],
      ['alert.type empty', (b) => (alertOf(b).type = ''), 'items.0.alert.type'],
      ['alert.type over 255 characters', (b) => (alertOf(b).type = 't'.repeat(256)), 'items.0.alert.type'],
      ['alert.category a number', (b) => (alertOf(b).category = 3), 'items.0.alert.category'],
      ['alert.details missing', (b) => delete alertOf(b).details, 'items.0.alert.details'],
      ['alert.details an array', (b) => (alertOf(b).details = []), 'items.0.alert.details'],
      ['details.title a number', (b) => (detailsOf(b).title = 1), 'items.0.alert.details.title'],
      ['details.category missing', (b) => delete detailsOf(b).category, 'items.0.alert.details.category'],
      ['details.description null', (b) => (detailsOf(b).description = null), 'items.0.alert.details.description'],
      ['details.fields an array', (b) => (detailsOf(b).fields = ['a']), 'items.0.alert.details.fields'],
      ['details.fields with a number value', (b) => (detailsOf(b).fields = { size: 12 }), 'items.0.alert.details.fields'],
      ['ResourceID without ResourceName', (b) => (alertOf(b).ResourceID = 'res-1'), 'items.0.alert.ResourceName'],
      ['ResourceName without ResourceID', (b) => (alertOf(b).ResourceName = 'Server'), 'items.0.alert.ResourceID'],
      ['ResourceID a number', (b) => Object.assign(alertOf(b), { ResourceID: 5, ResourceName: 'Server' }), 'items.0.alert.ResourceID'],
      ['workload missing', (b) => delete item(b, 1).workload, 'items.1.workload'],
      ['workload.type missing', (b) => delete workloadOf(b).type, 'items.1.workload.type'],
      ['workload.name a number', (b) => (workloadOf(b).name = 9), 'items.1.workload.name'],
      ['workload.attributes missing', (b) => delete workloadOf(b).attributes, 'items.1.workload.attributes'],
      ['workload.attributes a string', (b) => (workloadOf(b).attributes = 'os=linux'), 'items.1.workload.attributes'],
      ['workload.allowed_actions a string', (b) => (workloadOf(b).allowed_actions = 'reboot'), 'items.1.workload.allowed_actions'],
      ['workload.allowed_actions with a number', (b) => (workloadOf(b).allowed_actions = ['reboot', 1]), 'items.1.workload.allowed_actions'],
      ['workload.enabled a string', (b) => (workloadOf(b).enabled = 'yes'), 'items.1.workload.enabled'],
    ];
    it.each(cases)('answers 400 naming the field when %s', async (_, mutate, field) => {
      const body = valid();
      mutate(body);
      const res = await post(body).expect(400);
      expect(res.body).toMatchObject(errorEnvelope('VALIDATION_FAILED'));
      expect(res.body.err_message).toContain(field);
    });

    it('answers 400 for a NUL character anywhere in the body (PostgreSQL cannot store it)', async () => {
      const body = valid();
      item(body, 0).idempotency_key = 'a\u0000b';
      const res = await post(body).expect(400);
      expect(res.body).toMatchObject(errorEnvelope('MALFORMED_REQUEST'));
    });

    it('answers 400 for an idempotency key repeated inside one batch', async () => {
      const key = randomUUID();
      const res = await post(batch(tree.customers[0].id, [alertItem(key), workloadItem(), alertItem(key, 2)])).expect(400);
      expect(res.body).toMatchObject(errorEnvelope('VALIDATION_FAILED'));
      expect(res.body.err_message).toContain('items.2.idempotency_key repeats items.0.idempotency_key');
    });

    it('answers 413 for a batch over the configured maximum', async () => {
      const list = Array.from({ length: MAX_BATCH + 1 }, () => alertItem());
      const res = await post(batch(tree.customers[0].id, list)).expect(413);
      expect(res.body).toMatchObject(errorEnvelope('PAYLOAD_TOO_LARGE'));
      expect(res.body.err_message).toBe(`A batch holds at most ${MAX_BATCH} items; this one has ${MAX_BATCH + 1}.`);
    });

    it('answers 413 for a body over BODY_LIMIT_BYTES', async () => {
      const body = valid();
      detailsOf(body).description = 'x'.repeat(20_000);
      const res = await post(body).expect(413);
      expect(res.body).toMatchObject(errorEnvelope('PAYLOAD_TOO_LARGE'));
    });

    it('answers 403 for an unknown organization', async () => {
      const res = await post(batch(randomUUID(), [alertItem()])).expect(403);
      expect(res.body).toMatchObject(errorEnvelope('FORBIDDEN'));
    });

    it("answers 403 for another partner's organization, with the same message as an unknown one", async () => {
      const foreign = await post(batch(tree.otherCustomer.id, [alertItem()])).expect(403);
      const unknown = await post(batch(randomUUID(), [alertItem()])).expect(403);
      expect(foreign.body).toMatchObject(errorEnvelope('FORBIDDEN'));
      expect(foreign.body.err_message).toBe(unknown.body.err_message);
    });

    it('answers 401 without credentials, on every route', async () => {
      for (const res of [await post(valid(), null), await get('', null), await get(`/${randomUUID()}`, null)]) {
        expect(res.status).toBe(401);
        expect(res.body).toMatchObject(errorEnvelope('UNAUTHENTICATED'));
      }
    });

    it('answers 401 for a wrong password or garbage credentials', async () => {
      for (const auth of [cyberAppAuth('partner', 'wrong'), cyberAppAuth('nobody', 'x'), 'not-base64!']) {
        const res = await post(valid(), auth).expect(401);
        expect(res.body).toMatchObject(errorEnvelope('UNAUTHENTICATED'));
      }
    });

    it('never answers 500 whatever type any field has', async () => {
      const values: unknown[] = [null, 0, -1, 1.5, true, '', 'x', [], [1], {}, { a: 1 }, 'x'.repeat(300)];
      const paths: Array<(b: Json) => Json> = [(b) => b, (b) => item(b, 0), (b) => item(b, 1), alertOf, detailsOf, workloadOf];
      const fields = [['organization_id', 'items', 'send_now'], ['idempotency_key', 'kind', 'alert'], ['idempotency_key', 'kind', 'workload'], ['type', 'category', 'details', 'ResourceID'], ['title', 'category', 'description', 'fields'], ['key', 'type', 'name', 'attributes', 'allowed_actions', 'enabled']];
      // An accepted workload also records what its device wants: put those rows back as they were.
      const savedWorkloads: Array<Record<string, unknown>> = await t.dataSource.query('SELECT * FROM connector_workloads');
      const restoreWorkloads = async (): Promise<void> => {
        await t.dataSource.query('DELETE FROM connector_workloads');
        for (const row of savedWorkloads) {
          const columns = Object.keys(row);
          const marks = columns.map((_, i) => (t.dataSource.options.type === 'postgres' ? `$${i + 1}` : '?'));
          await t.dataSource.query(`INSERT INTO connector_workloads (${columns.join(', ')}) VALUES (${marks.join(', ')})`, Object.values(row));
        }
      };
      for (const [p, at] of paths.entries()) {
        for (const field of fields[p]) {
          for (const value of values) {
            const body = valid();
            at(body)[field] = value;
            const res = await post(body);
            expect({ field, value, status: res.status < 500 }).toEqual({ field, value, status: true });
            if (res.status >= 400) expect(res.body.code).toEqual(expect.any(String));
            // Some values are valid (empty description, any attributes object): their rows are removed again.
            if (res.status === 202) {
              await items().delete(res.body.items.map((i: Json) => i.id as string));
              await restoreWorkloads();
            }
          }
        }
      }
    });
  });

  describe('concurrency', () => {
    it('answers 5 identical batches sent at once with 202 each and stores one set of rows', async () => {
      const body = batch(tree.customers[1].id, [alertItem(), workloadItem(), alertItem(randomUUID(), 2)]);
      const responses = await Promise.all(Array.from({ length: 5 }, () => post(body)));
      expect(responses.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
      const idSets = responses.map((r) => JSON.stringify(r.body.items.map((i: Json) => i.id)));
      expect(new Set(idSets).size).toBe(1);
      expect(responses.flatMap((r) => r.body.items.filter((i: Json) => i.created)).length).toBe(3);
      const keys = (body.items as Json[]).map((i) => i.idempotency_key as string);
      const rows = await t.dataSource.getRepository(ConnectorItem).find({ where: keys.map((k) => ({ idempotencyKey: k })) });
      expect(rows).toHaveLength(3);
    });

    it('stores overlapping batches sent at once without duplicates or errors', async () => {
      const [a, b, c] = [alertItem(), workloadItem(), alertItem(randomUUID(), 3)];
      const bodies = [batch(tree.customers[1].id, [a, b]), batch(tree.customers[1].id, [b, a]), batch(tree.customers[1].id, [c, b, a])];
      const responses = await Promise.all([...bodies, ...bodies].map((body) => post(body)));
      expect(responses.map((r) => r.status)).toEqual(responses.map(() => 202));
      const keys = [a, b, c].map((i) => i.idempotency_key as string);
      const rows = await items().find({ where: keys.map((k) => ({ idempotencyKey: k })) });
      expect(rows).toHaveLength(3);
      const idOf = new Map(rows.map((r) => [r.idempotencyKey, r.id]));
      for (const res of responses) for (const i of res.body.items as Json[]) expect(i.id).toBe(idOf.get(i.idempotency_key as string));
    });
  });
});

import { randomUUID } from 'node:crypto';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { OrganizationMapping } from '../../src/tenant-mapping/organization-mapping.entity';
import { createOrganization, createTree, createUser, mapOrganization, Tree } from '../factories/organizations';
import { callback, Credentials, errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { DC_URL, responseType } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';
import { TEST_DB } from '../setup/test-database';

describe('topology and tenant mapping callbacks', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;

  beforeEach(async () => {
    t = await createTestApp();
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
  });
  afterEach(() => t.close());

  const mappings = async () =>
    Object.fromEntries((await t.dataSource.manager.find(OrganizationMapping)).map((m) => [m.organizationId, m.acronisTenantId]));

  describe('topology.read', () => {
    it('lists the customers of the caller at any depth, ordered by name', async () => {
      const res = await callback(t, partner, 'topology.read', {}).expect(200);
      expect(res.body.type).toBe(responseType('a.p.topology.read.ok.v1.0'));
      expect(res.body.payload).toEqual({
        items: [
          { id: tree.customers[1].id, name: 'Alpha Customer' },
          { id: tree.customers[0].id, name: 'Beta Customer' },
          { id: tree.subCustomer.id, name: 'Gamma Customer' },
        ],
      });
    });

    it('honours paging offset and limit', async () => {
      const res = await callback(t, partner, 'topology.read', { paging: { offset: 1, limit: 1 } }).expect(200);
      expect(res.body.payload.items).toEqual([{ id: tree.customers[0].id, name: 'Beta Customer' }]);
    });

    it('rejects paging with wrong types', async () => {
      const res = await callback(t, partner, 'topology.read', { paging: { offset: '1', limit: -2 } }).expect(400);
      expect(res.body).toMatchObject(errorEnvelope('VALIDATION_FAILED', res.body.request_id));
      expect(res.body.err_message).toContain('payload.paging.offset');
    });

    it('shows another partner only its own customers', async () => {
      const res = await callback(t, { login: 'other', password: 'other-password' }, 'topology.read', {}).expect(200);
      expect(res.body.payload.items).toEqual([{ id: tree.otherCustomer.id, name: 'Other Customer' }]);
    });
  });

  describe('tenant_mapping.read', () => {
    it('lists every customer, mapped ones with their Acronis tenant for this data center', async () => {
      const here = randomUUID();
      await mapOrganization(t.dataSource, tree.customers[0].id, here, DC_URL);
      await mapOrganization(t.dataSource, tree.subCustomer.id, randomUUID(), 'https://other-dc.example');
      const res = await callback(t, partner, 'tenant_mapping.read').expect(200);
      expect(res.body.type).toBe(responseType('a.p.tenant_mapping.read.ok.v1.0'));
      expect(res.body.payload.items).toEqual([
        { vendor_tenant_id: tree.customers[1].id },
        { vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: here },
        { vendor_tenant_id: tree.subCustomer.id },
      ]);
    });

    it('shows mappings without a data center to every data center', async () => {
      const tenant = randomUUID();
      await mapOrganization(t.dataSource, tree.customers[1].id, tenant, null);
      const res = await callback(t, partner, 'tenant_mapping.read', undefined, { datacenterUrl: 'https://us5-cloud.acronis.com' }).expect(200);
      expect(res.body.payload.items[0]).toEqual({ vendor_tenant_id: tree.customers[1].id, acronis_tenant_id: tenant });
    });
  });

  describe('tenant_mapping.write', () => {
    it('maps customers at any depth and stores the data center', async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      await callback(t, partner, 'tenant_mapping.write', {
        modified: [
          { vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: a },
          { vendor_tenant_id: tree.subCustomer.id, acronis_tenant_id: b },
        ],
      }).expect(200);
      expect(await mappings()).toEqual({ [tree.customers[0].id]: a, [tree.subCustomer.id]: b });
      const row = await t.dataSource.manager.findOneByOrFail(OrganizationMapping, { organizationId: tree.subCustomer.id });
      expect(row.acronisDcUrl).toBe(DC_URL);
    });

    it('replaces a customer previous mapping and unmaps an item without acronis_tenant_id', async () => {
      await mapOrganization(t.dataSource, tree.customers[0].id);
      await mapOrganization(t.dataSource, tree.customers[1].id);
      const fresh = randomUUID();
      await callback(t, partner, 'tenant_mapping.write', {
        modified: [{ vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: fresh }, { vendor_tenant_id: tree.customers[1].id }],
      }).expect(200);
      expect(await mappings()).toEqual({ [tree.customers[0].id]: fresh });
    });

    it('swaps two tenants between customers in one request', async () => {
      const [x, y] = [randomUUID(), randomUUID()];
      await mapOrganization(t.dataSource, tree.customers[0].id, x);
      await mapOrganization(t.dataSource, tree.customers[1].id, y);
      await callback(t, partner, 'tenant_mapping.write', {
        modified: [
          { vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: y },
          { vendor_tenant_id: tree.customers[1].id, acronis_tenant_id: x },
        ],
      }).expect(200);
      expect(await mappings()).toEqual({ [tree.customers[0].id]: y, [tree.customers[1].id]: x });
    });

    it('moves an Acronis tenant from another organization in the caller subtree', async () => {
      const tenant = randomUUID();
      await mapOrganization(t.dataSource, tree.subCustomer.id, tenant);
      await callback(t, partner, 'tenant_mapping.write', { modified: [{ vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: tenant }] }).expect(200);
      expect(await mappings()).toEqual({ [tree.customers[0].id]: tenant });
    });

    it('rejects a tenant mapping for an organization the caller does not own, changing nothing', async () => {
      await mapOrganization(t.dataSource, tree.customers[0].id);
      const before = await snapshot(t.dataSource);
      const res = await callback(t, partner, 'tenant_mapping.write', {
        modified: [
          { vendor_tenant_id: tree.customers[1].id, acronis_tenant_id: randomUUID() },
          { vendor_tenant_id: tree.otherCustomer.id, acronis_tenant_id: randomUUID() },
        ],
      }).expect(400);
      expect(res.body).toMatchObject({ ...errorEnvelope('MAPPING_INVALID', res.body.request_id), err_message: 'Failed to write the mapping.' });
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('rejects mapping a partner (not a customer) or the caller itself', async () => {
      const before = await snapshot(t.dataSource);
      await callback(t, partner, 'tenant_mapping.write', { modified: [{ vendor_tenant_id: tree.subPartner.id, acronis_tenant_id: randomUUID() }] }).expect(400);
      await callback(t, partner, 'tenant_mapping.write', { modified: [{ vendor_tenant_id: tree.partner.id, acronis_tenant_id: randomUUID() }] }).expect(400);
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('refuses to take over an Acronis tenant mapped outside the caller subtree (403), changing nothing', async () => {
      const foreign = randomUUID();
      await mapOrganization(t.dataSource, tree.otherCustomer.id, foreign);
      const before = await snapshot(t.dataSource);
      const res = await callback(t, partner, 'tenant_mapping.write', {
        modified: [
          { vendor_tenant_id: tree.customers[1].id, acronis_tenant_id: randomUUID() },
          { vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: foreign },
        ],
      }).expect(403);
      expect(res.body).toMatchObject(errorEnvelope('FORBIDDEN', res.body.request_id));
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('rejects one Acronis tenant for two customers, and one customer twice', async () => {
      const before = await snapshot(t.dataSource);
      const tenant = randomUUID();
      await callback(t, partner, 'tenant_mapping.write', {
        modified: [
          { vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: tenant },
          { vendor_tenant_id: tree.customers[1].id, acronis_tenant_id: tenant },
        ],
      }).expect(400);
      await callback(t, partner, 'tenant_mapping.write', {
        modified: [
          { vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: randomUUID() },
          { vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: randomUUID() },
        ],
      }).expect(400);
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('rejects a malformed modified list naming the field', async () => {
      const before = await snapshot(t.dataSource);
      for (const payload of [{}, { modified: 'x' }, { modified: [{ acronis_tenant_id: randomUUID() }] }, { modified: [{ vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: 'nope' }] }]) {
        const res = await callback(t, partner, 'tenant_mapping.write', payload).expect(400);
        expect(res.body.code).toBe('VALIDATION_FAILED');
        expect(res.body.err_message).toMatch(/payload\.modified/);
      }
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('records a tenant_mapping.written event in the same transaction', async () => {
      await callback(t, partner, 'tenant_mapping.write', { modified: [{ vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: randomUUID() }] }).expect(200);
      const events: Array<{ type: string }> = await t.dataSource.query('SELECT type FROM events');
      expect(events).toEqual([{ type: 'tenant_mapping.written' }]);
    });

    (TEST_DB === 'postgres' ? it : it.skip)(
      'never deletes a mapping another partner commits while the write waits for its lock (PostgreSQL)',
      async () => {
        const contested = randomUUID();
        const blocker = t.dataSource.createQueryRunner();
        await blocker.connect();
        await blocker.startTransaction();
        await blocker.query('SELECT id FROM organizations WHERE id = $1 FOR UPDATE', [tree.customers[0].id]);
        const waiting = callback(t, partner, 'tenant_mapping.write', {
          modified: [{ vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: contested }],
        }).then((r) => r);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await callback(t, { login: 'other', password: 'other-password' }, 'enablement.write', { acronis_tenant_id: contested }).expect(200);
        await blocker.commitTransaction();
        await blocker.release();
        const res = await waiting;
        expect(res.status).toBe(403);
        expect(await mappings()).toEqual({ [tree.other.id]: contested });
      },
    );

    it('lets a sub-partner map only its own customers', async () => {
      const subUserOrg = tree.subPartner.id;
      await createUser(t.dataSource, { organizationId: subUserOrg, login: 'sub', password: 'sub-pw' });
      const sub = { login: 'sub', password: 'sub-pw' };
      await callback(t, sub, 'tenant_mapping.write', { modified: [{ vendor_tenant_id: tree.subCustomer.id, acronis_tenant_id: randomUUID() }] }).expect(200);
      await callback(t, sub, 'tenant_mapping.write', { modified: [{ vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: randomUUID() }] }).expect(400);
      const extra = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer, parentId: subUserOrg, name: 'Delta' });
      const res = await callback(t, sub, 'topology.read', {}).expect(200);
      expect(res.body.payload.items.map((i: { id: string }) => i.id)).toEqual([extra.id, tree.subCustomer.id]);
    });
  });
});

import { randomUUID } from 'node:crypto';
import { OrganizationMapping } from '../../src/tenant-mapping/organization-mapping.entity';
import { createTree, createUser, mapOrganization, Tree } from '../factories/organizations';
import { callback, Credentials, errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { DC_URL, responseType } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

describe('enablement callbacks', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;

  beforeEach(async () => {
    t = await createTestApp();
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
  });
  afterEach(() => t.close());

  const mappingOf = (organizationId: string) => t.dataSource.manager.findOne(OrganizationMapping, { where: { organizationId } });

  it('reads the caller organization without an Acronis tenant when it is not mapped', async () => {
    const res = await callback(t, partner, 'enablement.read').expect(200);
    expect(res.body).toEqual({
      type: responseType('a.p.enablement.read.ok.v1.0'),
      request_id: expect.any(String),
      response_id: expect.any(String),
      payload: { vendor_tenant_id: tree.partner.id },
    });
  });

  it('maps the caller organization on write and reads the mapping back', async () => {
    const tenant = randomUUID();
    const write = await callback(t, partner, 'enablement.write', { vendor_tenant_id: tree.partner.id, acronis_tenant_id: tenant }).expect(200);
    expect(write.body).toEqual({ type: responseType('a.p.success_no_content.v1.0'), request_id: expect.any(String), response_id: expect.any(String) });
    expect(write.body).not.toHaveProperty('payload');
    expect(await mappingOf(tree.partner.id)).toMatchObject({ acronisTenantId: tenant, acronisDcUrl: DC_URL });

    const read = await callback(t, partner, 'enablement.read').expect(200);
    expect(read.body.payload).toEqual({ vendor_tenant_id: tree.partner.id, acronis_tenant_id: tenant });
  });

  it('accepts the same mapping again (idempotent) without a second event', async () => {
    const tenant = randomUUID();
    await callback(t, partner, 'enablement.write', { acronis_tenant_id: tenant }).expect(200);
    const before = await snapshot(t.dataSource);
    await callback(t, partner, 'enablement.write', { acronis_tenant_id: tenant }).expect(200);
    const after = await snapshot(t.dataSource);
    expect(after.organizations_mapping).toEqual(before.organizations_mapping);
    expect(after.events).toEqual(before.events);
  });

  it('refuses to re-map an organization that is already mapped to another tenant', async () => {
    await mapOrganization(t.dataSource, tree.partner.id, randomUUID());
    const before = await snapshot(t.dataSource);
    const res = await callback(t, partner, 'enablement.write', { acronis_tenant_id: randomUUID() }).expect(403);
    expect(res.body).toMatchObject(errorEnvelope('FORBIDDEN', res.body.request_id));
    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it('refuses an Acronis tenant that belongs to another organization', async () => {
    const tenant = randomUUID();
    await mapOrganization(t.dataSource, tree.other.id, tenant);
    const before = await snapshot(t.dataSource);
    await callback(t, partner, 'enablement.write', { acronis_tenant_id: tenant }).expect(403);
    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it('refuses a vendor_tenant_id that is not the caller organization', async () => {
    const before = await snapshot(t.dataSource);
    await callback(t, partner, 'enablement.write', { vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: randomUUID() }).expect(403);
    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it('reset removes the mappings of the caller organization and its whole subtree, and nobody else', async () => {
    await mapOrganization(t.dataSource, tree.partner.id);
    await mapOrganization(t.dataSource, tree.customers[0].id);
    await mapOrganization(t.dataSource, tree.subCustomer.id); // two levels down: the sample missed these
    await mapOrganization(t.dataSource, tree.otherCustomer.id);
    await callback(t, partner, 'enablement.reset').expect(200);
    const left = await t.dataSource.manager.find(OrganizationMapping);
    expect(left.map((m) => m.organizationId)).toEqual([tree.otherCustomer.id]);
  });

  it('records enablement events in the outbox with the change', async () => {
    await callback(t, partner, 'enablement.write', { acronis_tenant_id: randomUUID() }).expect(200);
    await callback(t, partner, 'enablement.reset').expect(200);
    const events: Array<{ type: string; organization_id: string }> = await t.dataSource.query('SELECT type, organization_id FROM events ORDER BY created_at');
    expect(events.map((e) => e.type).sort()).toEqual(['enablement.reset', 'enablement.written']);
    expect(events.every((e) => e.organization_id === tree.partner.id)).toBe(true);
  });

  it('lets a customer user enable its own organization', async () => {
    await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'cust', password: 'cust-pw' });
    const tenant = randomUUID();
    await callback(t, { login: 'cust', password: 'cust-pw' }, 'enablement.write', { acronis_tenant_id: tenant }).expect(200);
    expect(await mappingOf(tree.customers[0].id)).toMatchObject({ acronisTenantId: tenant });
  });
});

import { randomUUID } from 'node:crypto';
import { User } from '../../src/users/user.entity';
import { createTree, createUser, mapOrganization, Tree } from '../factories/organizations';
import { callback, Credentials } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';

describe('write callbacks are idempotent per request_id', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;
  let tenant: string;

  beforeEach(async () => {
    t = await createTestApp();
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
    tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
  });
  afterEach(() => t.close());

  const eventCount = async () => Number((await t.dataSource.query('SELECT COUNT(*) AS n FROM events'))[0].n);

  it('answers a retry with the stored response without running the write again', async () => {
    const requestId = randomUUID();
    const payload = { login: 'once', name: 'Once', email: 'once@example.test' };
    const first = await callback(t, partner, 'user_write', payload, { tenantId: tenant, requestId }).expect(200);
    const again = await callback(t, partner, 'user_write', payload, { tenantId: tenant, requestId }).expect(200);
    expect(again.body).toEqual(first.body);
    expect(await t.dataSource.manager.countBy(User, { login: 'once' })).toBe(1);
    expect(await eventCount()).toBe(1);
  });

  it('returns the same one-time password when reset_password is retried', async () => {
    const user = await createUser(t.dataSource, { organizationId: tree.customers[0].id });
    const requestId = randomUUID();
    const first = await callback(t, partner, 'reset_password', { id: user.id }, { tenantId: tenant, requestId }).expect(200);
    const hash = (await t.dataSource.manager.findOneByOrFail(User, { id: user.id })).password;
    const again = await callback(t, partner, 'reset_password', { id: user.id }, { tenantId: tenant, requestId }).expect(200);
    expect(again.body.payload.password).toBe(first.body.payload.password);
    expect((await t.dataSource.manager.findOneByOrFail(User, { id: user.id })).password).toBe(hash);
  });

  it('answers concurrent duplicates of a user_write once, all with the same response', async () => {
    const requestId = randomUUID();
    const payload = { login: 'racer', name: 'Racer', email: 'racer@example.test' };
    const responses = await Promise.all(Array.from({ length: 4 }, () => callback(t, partner, 'user_write', payload, { tenantId: tenant, requestId })));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(responses.map((r) => r.body.response_id)).size).toBe(1);
    expect(await t.dataSource.manager.countBy(User, { login: 'racer' })).toBe(1);
  });

  it('answers concurrent duplicates once', async () => {
    const requestId = randomUUID();
    const payload = { modified: [{ vendor_tenant_id: tree.customers[1].id, acronis_tenant_id: randomUUID() }] };
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => callback(t, partner, 'tenant_mapping.write', payload, { requestId })),
    );
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(responses.map((r) => r.body.response_id)).size).toBe(1);
    expect(await eventCount()).toBe(1);
  });

  it('serializes concurrent different writes to the same customer: every one succeeds, one mapping remains', async () => {
    const tenants = Array.from({ length: 6 }, () => randomUUID());
    const responses = await Promise.all(
      tenants.map((acronis) => callback(t, partner, 'tenant_mapping.write', { modified: [{ vendor_tenant_id: tree.customers[1].id, acronis_tenant_id: acronis }] })),
    );
    expect(responses.map((r) => r.status)).toEqual(tenants.map(() => 200));
    const rows: Array<{ acronis_tenant_id: string }> = await t.dataSource.query(
      `SELECT acronis_tenant_id FROM organizations_mapping WHERE organization_id = '${tree.customers[1].id}'`,
    );
    expect(rows).toHaveLength(1);
    expect(tenants).toContain(rows[0].acronis_tenant_id);
  });

  it('lets concurrent enablement writes of the same mapping all succeed', async () => {
    const acronis = randomUUID();
    const responses = await Promise.all(Array.from({ length: 5 }, () => callback(t, partner, 'enablement.write', { acronis_tenant_id: acronis })));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  });

  it('refuses a reused request_id with a different payload (409), changing nothing', async () => {
    const requestId = randomUUID();
    await callback(t, partner, 'user_write', { login: 'a1', name: 'A', email: 'a@example.test' }, { tenantId: tenant, requestId }).expect(200);
    const res = await callback(t, partner, 'user_write', { login: 'b1', name: 'B', email: 'b@example.test' }, { tenantId: tenant, requestId }).expect(409);
    expect(res.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await t.dataSource.manager.countBy(User, { login: 'b1' })).toBe(0);
  });

  it("never hands another user's stored response to a caller who reuses its request_id", async () => {
    const user = await createUser(t.dataSource, { organizationId: tree.customers[0].id });
    const requestId = randomUUID();
    await callback(t, partner, 'reset_password', { id: user.id }, { tenantId: tenant, requestId }).expect(200);
    const res = await callback(t, { login: 'other', password: 'other-password' }, 'reset_password', { id: user.id }, { tenantId: tenant, requestId });
    expect(res.status).toBe(409);
    expect(JSON.stringify(res.body)).not.toMatch(/password"/);
  });

  it('does not remember failures: a retry after the cause is fixed runs', async () => {
    const requestId = randomUUID();
    const unmapped = randomUUID();
    await callback(t, partner, 'user_write', { login: 'later', name: 'L', email: 'l@example.test' }, { tenantId: unmapped, requestId }).expect(404);
    await mapOrganization(t.dataSource, tree.customers[1].id, unmapped);
    await callback(t, partner, 'user_write', { login: 'later', name: 'L', email: 'l@example.test' }, { tenantId: unmapped, requestId }).expect(200);
  });

  it('runs a request again once its stored response is older than the window', async () => {
    const requestId = randomUUID();
    const payload = { login: 'aged', name: 'Aged', email: 'aged@example.test' };
    await callback(t, partner, 'user_write', payload, { tenantId: tenant, requestId }).expect(200);
    await t.dataSource.query(`UPDATE callback_requests SET created_at = ${t.dataSource.options.type === 'postgres' ? "now() - interval '2 days'" : "datetime('now', '-2 days')"}`);
    const res = await callback(t, partner, 'user_write', payload, { tenantId: tenant, requestId }).expect(409);
    expect(res.body.code).toBe('CONFLICT'); // it ran again: the login now exists
  });

  it('does not store read callbacks', async () => {
    const requestId = randomUUID();
    const a = await callback(t, partner, 'users_read', {}, { tenantId: tenant, requestId }).expect(200);
    const b = await callback(t, partner, 'users_read', {}, { tenantId: tenant, requestId }).expect(200);
    expect(a.body.response_id).not.toBe(b.body.response_id);
  });
});

import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { User } from '../../src/users/user.entity';
import { createTree, createUser, mapOrganization, Tree } from '../factories/organizations';
import { callback, Credentials, errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth, envelope, responseType } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

describe('users callbacks ({APP_CODE} custom callbacks)', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;
  let tenant: string;
  let otherTenant: string;

  beforeEach(async () => {
    t = await createTestApp();
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
    tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
    otherTenant = (await mapOrganization(t.dataSource, tree.otherCustomer.id)).acronisTenantId;
  });
  afterEach(() => t.close());

  const usersOf = (organizationId: string) => t.dataSource.manager.find(User, { where: { organizationId }, order: { login: 'ASC' } });

  describe('users_read', () => {
    it('lists the users of the organization mapped to the tenant', async () => {
      const u1 = await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'b.user', name: 'B User' });
      const u2 = await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'a.user', name: 'A User' });
      const res = await callback(t, partner, 'users_read', {}, { tenantId: tenant }).expect(200);
      expect(res.body.type).toBe(responseType('vendor.app.users_read_success.v1.0'));
      expect(res.body.payload).toEqual({
        items: [
          { id: u2.id, name: 'A User', email: u2.email },
          { id: u1.id, name: 'B User', email: u1.email },
        ],
      });
    });

    it('includes users of mapped descendants, not of unmapped ones', async () => {
      const partnerTenant = (await mapOrganization(t.dataSource, tree.partner.id)).acronisTenantId;
      const mappedChild = await createUser(t.dataSource, { organizationId: tree.customers[0].id, name: 'Mapped Child' });
      await createUser(t.dataSource, { organizationId: tree.customers[1].id, name: 'Unmapped Child' });
      const res = await callback(t, partner, 'users_read', {}, { tenantId: partnerTenant }).expect(200);
      const ids = res.body.payload.items.map((i: { id: string }) => i.id);
      expect(ids).toContain(tree.partnerUser.id);
      expect(ids).toContain(mappedChild.id);
      expect(res.body.payload.items).toHaveLength(2);
    });

    it('answers an empty list for an unmapped tenant', async () => {
      const res = await callback(t, partner, 'users_read', {}, { tenantId: randomUUID() }).expect(200);
      expect(res.body.payload).toEqual({ items: [] });
    });

    it('refuses to read users of a tenant mapped to another partner (403)', async () => {
      const res = await callback(t, partner, 'users_read', {}, { tenantId: otherTenant }).expect(403);
      expect(res.body).toMatchObject(errorEnvelope('FORBIDDEN', res.body.request_id));
    });
  });

  describe('user_write', () => {
    it('creates a password-less user with a lower-cased login', async () => {
      const res = await callback(t, partner, 'user_write', { login: 'New.User', name: 'New User', email: 'new@example.test' }, { tenantId: tenant }).expect(200);
      expect(res.body).toEqual({ type: responseType('vendor.app.user_write_success.v1.0'), request_id: expect.any(String), response_id: expect.any(String) });
      const [created] = await usersOf(tree.customers[0].id);
      expect(created).toMatchObject({ login: 'new.user', name: 'New User', email: 'new@example.test', password: null });
    });

    it('answers 409 for a duplicate login (case-insensitive) and stores nothing', async () => {
      const before = await snapshot(t.dataSource);
      const res = await callback(t, partner, 'user_write', { login: 'PARTNER', name: 'Dup', email: 'dup@example.test' }, { tenantId: tenant }).expect(409);
      expect(res.body).toMatchObject(errorEnvelope('CONFLICT', res.body.request_id));
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('answers 404 for a tenant that is not mapped (the sample answered 200 and did nothing)', async () => {
      const before = await snapshot(t.dataSource);
      const res = await callback(t, partner, 'user_write', { login: 'x', name: 'X', email: 'x@example.test' }, { tenantId: randomUUID() }).expect(404);
      expect(res.body.code).toBe('TENANT_NOT_MAPPED');
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('refuses to create a user in another partner tenant (403)', async () => {
      const before = await snapshot(t.dataSource);
      await callback(t, partner, 'user_write', { login: 'intruder', name: 'I', email: 'i@example.test' }, { tenantId: otherTenant }).expect(403);
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('rejects missing or wrongly typed fields naming them', async () => {
      const before = await snapshot(t.dataSource);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ name: 'N', email: 'n@example.test' }, 'payload.login'],
        [{ login: 5, name: 'N', email: 'n@example.test' }, 'payload.login'],
        [{ login: 'a:b', name: 'N', email: 'n@example.test' }, 'payload.login'],
        [{ login: 'n', name: '', email: 'n@example.test' }, 'payload.name'],
        [{ login: 'n', name: 'N', email: 'not-an-email' }, 'payload.email'],
      ];
      for (const [payload, field] of cases) {
        const res = await callback(t, partner, 'user_write', payload, { tenantId: tenant }).expect(400);
        expect(res.body.code).toBe('VALIDATION_FAILED');
        expect(res.body.err_message).toContain(field);
      }
      expect(await snapshot(t.dataSource)).toEqual(before);
    });
  });

  describe('user_update, user_delete, reset_password', () => {
    let target: User;
    beforeEach(async () => {
      target = await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'target', name: 'Target', email: 't@example.test' });
    });

    it('updates name and email', async () => {
      await callback(t, partner, 'user_update', { id: target.id, name: 'Renamed', email: 'r@example.test' }, { tenantId: tenant }).expect(200);
      expect(await t.dataSource.manager.findOneByOrFail(User, { id: target.id })).toMatchObject({ name: 'Renamed', email: 'r@example.test' });
    });

    it('updates only the given field', async () => {
      await callback(t, partner, 'user_update', { id: target.id, name: 'Only Name' }, { tenantId: tenant }).expect(200);
      expect(await t.dataSource.manager.findOneByOrFail(User, { id: target.id })).toMatchObject({ name: 'Only Name', email: 't@example.test' });
    });

    it('answers 404 for an unknown user id, or one in another organization, changing nothing', async () => {
      const elsewhere = await createUser(t.dataSource, { organizationId: tree.customers[1].id });
      const before = await snapshot(t.dataSource);
      for (const name of ['user_update', 'user_delete', 'reset_password'] as const) {
        for (const id of [randomUUID(), elsewhere.id, tree.otherUser.id]) {
          const res = await callback(t, partner, name, { id, name: 'X' }, { tenantId: tenant }).expect(404);
          expect(res.body).toMatchObject(errorEnvelope('NOT_FOUND', res.body.request_id));
        }
      }
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('refuses to touch users of another partner tenant (403), changing nothing', async () => {
      const before = await snapshot(t.dataSource);
      for (const name of ['user_update', 'user_delete', 'reset_password'] as const) {
        await callback(t, partner, name, { id: tree.otherUser.id, name: 'X' }, { tenantId: otherTenant }).expect(403);
      }
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('deletes a user', async () => {
      await callback(t, partner, 'user_delete', { id: target.id }, { tenantId: tenant }).expect(200);
      expect(await t.dataSource.manager.findOneBy(User, { id: target.id })).toBeNull();
    });

    it('resets a password: returns it once, stores only an argon2id hash, and the user can log in with it', async () => {
      const res = await callback(t, partner, 'reset_password', { id: target.id }, { tenantId: tenant }).expect(200);
      expect(res.body.type).toBe(responseType('vendor.app.reset_password_success.v1.0'));
      const password: string = res.body.payload.password;
      expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
      const stored = await t.dataSource.manager.findOneByOrFail(User, { id: target.id });
      expect(stored.password).toMatch(/^\$argon2id\$/);
      expect(stored.password).not.toContain(password);
      await callback(t, { login: 'target', password }, 'enablement.read').expect(200);
    });

    it('rejects user_update without name or email', async () => {
      const res = await callback(t, partner, 'user_update', { id: target.id }, { tenantId: tenant }).expect(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
    });

    it('records user events in the outbox', async () => {
      await callback(t, partner, 'user_write', { login: 'evt', name: 'Evt', email: 'e@example.test' }, { tenantId: tenant }).expect(200);
      await callback(t, partner, 'user_update', { id: target.id, name: 'X' }, { tenantId: tenant }).expect(200);
      await callback(t, partner, 'reset_password', { id: target.id }, { tenantId: tenant }).expect(200);
      await callback(t, partner, 'user_delete', { id: target.id }, { tenantId: tenant }).expect(200);
      const events: Array<{ type: string; organization_id: string; data: string }> = await t.dataSource.query('SELECT type, organization_id, data FROM events');
      expect(events.map((e) => e.type).sort()).toEqual(['user.created', 'user.deleted', 'user.password_reset', 'user.updated']);
      expect(events.every((e) => e.organization_id === tree.customers[0].id)).toBe(true);
      expect(events.map((e) => e.data).join()).not.toMatch(/argon2/);
    });
  });

  it('ignores a garbled X-CyberApp-Extra header', async () => {
    for (const extra of ['%%%not-base64%%%', Buffer.from('not json').toString('base64'), Buffer.from('[1,2]').toString('base64'), 'e30=']) {
      await request(t.server)
        .post('/callback')
        .set('X-CyberApp-Auth', cyberAppAuth(partner.login, partner.password))
        .set('X-CyberApp-Extra', extra)
        .send(envelope('users_read', {}, { tenantId: tenant }))
        .expect(200);
    }
  });
});

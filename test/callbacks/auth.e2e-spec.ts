import request from 'supertest';
import { User } from '../../src/users/user.entity';
import { createTree, createUser, mapOrganization, Tree } from '../factories/organizations';
import fixtures from '../fixtures/argon2-cffi-hashes.json';
import { callback } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { envelope } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('X-CyberApp-Auth authentication', () => {
  let t: TestApp;
  let tree: Tree;

  afterEach(() => t.close());

  const send = (header: string | undefined, body = envelope('enablement.read')) => {
    const req = request(t.server).post('/callback');
    if (header !== undefined) req.set('X-CyberApp-Auth', header);
    return req.send(body);
  };

  describe('with the default limits', () => {
    beforeEach(async () => {
      t = await createTestApp();
      tree = await createTree(t.dataSource);
    });

    it('accepts the platform form: base64 of <login>:{"password":…}', async () => {
      const res = await send(b64(`partner:${JSON.stringify({ password: tree.password })}`)).expect(200);
      expect(res.body.payload.vendor_tenant_id).toBe(tree.partner.id);
    });

    it("accepts the sample README's un-encoded form and a login in any case", async () => {
      await send(`PARTNER:{"password": "${tree.password}"}`).expect(200);
    });

    it('answers every kind of failure with the same 401 envelope', async () => {
      await createUser(t.dataSource, { organizationId: tree.partner.id, login: 'nopass', password: null });
      const failures: Array<[string, string | undefined]> = [
        ['missing header', undefined],
        ['empty header', ''],
        ['no colon', b64('partner')],
        ['bad base64', '%%%%'],
        ['invalid JSON', b64('partner:{password')],
        ['JSON array', b64('partner:["x"]')],
        ['JSON string', b64('partner:"x"')],
        ['missing password', b64('partner:{"pass":"x"}')],
        ['non-string password', b64('partner:{"password":42}')],
        ['unknown login', b64(`nobody:${JSON.stringify({ password: tree.password })}`)],
        ['wrong password', b64('partner:{"password":"wrong"}')],
        ['user without a password', b64('nopass:{"password":""}')],
        ['user without a password, any password', b64('nopass:{"password":"x"}')],
      ];
      const body = envelope('enablement.write', { acronis_tenant_id: '6b7b5c3e-1d3a-4f3e-9a3b-000000000001' });
      const before = await snapshot(t.dataSource);
      for (const [, header] of failures) {
        const res = await send(header, body).expect(401);
        expect(res.body).toEqual({
          request_id: body.request_id,
          response_id: expect.any(String),
          err_message: 'Failed to authenticate user.',
          message: 'Failed to authenticate user.',
          code: 'UNAUTHENTICATED',
        });
      }
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('verifies password hashes made by the Python sample (argon2-cffi, both default parameter sets)', async () => {
      for (const [i, { hash }] of fixtures.hashes.entries()) {
        await createUser(t.dataSource, { organizationId: tree.partner.id, login: `cffi${i}`, passwordHash: hash });
        await send(b64(`cffi${i}:${JSON.stringify({ password: fixtures.password })}`)).expect(200);
        await send(b64(`cffi${i}:${JSON.stringify({ password: 'correct horse battery stapler' })}`)).expect(401);
      }
    });

    it('never caches a failure: the right password works right after a wrong one', async () => {
      await send(b64('partner:{"password":"wrong"}')).expect(401);
      await send(b64(`partner:${JSON.stringify({ password: tree.password })}`)).expect(200);
    });

    it('drops cached credentials when the password is reset', async () => {
      const tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
      const user = await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'victim', password: 'old-password' });
      const victim = { login: 'victim', password: 'old-password' };
      await callback(t, victim, 'enablement.read').expect(200); // now cached
      await callback(t, { login: 'partner', password: tree.password }, 'reset_password', { id: user.id }, { tenantId: tenant }).expect(200);
      await callback(t, victim, 'enablement.read').expect(401);
    });

    it('drops cached credentials when the user is deleted', async () => {
      const tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
      const user = await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'leaver', password: 'pw' });
      await callback(t, { login: 'leaver', password: 'pw' }, 'enablement.read').expect(200);
      await callback(t, { login: 'partner', password: tree.password }, 'user_delete', { id: user.id }, { tenantId: tenant }).expect(200);
      await callback(t, { login: 'leaver', password: 'pw' }, 'enablement.read').expect(401);
    });
  });

  describe('failure rate limits', () => {
    beforeEach(async () => {
      t = await createTestApp({ AUTH_FAILURES_PER_IDENTITY_ADDRESS: '3', AUTH_FAILURES_PER_ADDRESS: '6', AUTH_FAILURE_WINDOW_SECONDS: '60' });
      tree = await createTree(t.dataSource);
    });

    it('answers 429 with Retry-After once a login has failed too often from an address it never authenticated from, even with the right password', async () => {
      for (let i = 0; i < 3; i++) await send(b64('partner:{"password":"wrong"}')).expect(401);
      const res = await send(b64(`partner:${JSON.stringify({ password: tree.password })}`)).expect(429);
      expect(res.body.code).toBe('RATE_LIMITED');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      // The message says the limiter refused, not the password, and when to retry.
      expect(res.body.err_message).toMatch(/^Too many failed authentication attempts for this login from \S+; the credentials were not checked\. Retry after (\d+) seconds\.$/);
      expect(res.body.err_message).toContain(`Retry after ${res.headers['retry-after']} seconds.`);
      // another identity from the same address is not blocked yet
      await send(b64('other:{"password":"other-password"}')).expect(200);
    });

    it('does not let parallel guesses overrun the per-identity budget', async () => {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => send(b64(`partner:{"password":"wrong${i}"}`))));
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 401)).toHaveLength(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    });

    it("does not charge a known login's wrong passwords to the shared client address", async () => {
      for (let i = 0; i < 10; i++) await send(b64('partner:{"password":"stale"}'));
      await send(b64('other:{"password":"other-password"}')).expect(200);
    });

    it('lets a burst of identical, not yet cached credentials through with one verification', async () => {
      const creds = b64('other:{"password":"other-password"}');
      const results = await Promise.all(Array.from({ length: 12 }, () => send(creds)));
      expect(results.map((r) => r.status)).toEqual(Array.from({ length: 12 }, () => 200));
    });

    it('answers 429 once a client address has failed too often across identities', async () => {
      for (let i = 0; i < 6; i++) await send(b64(`nobody${i}:{"password":"x"}`)).expect(401);
      await send(b64('other:{"password":"other-password"}')).expect(429);
    });
  });

  describe('with the credential cache off', () => {
    beforeEach(async () => {
      t = await createTestApp({ AUTH_CACHE_ENABLED: 'false' });
      tree = await createTree(t.dataSource);
    });

    it('authenticates every request against the stored hash', async () => {
      const creds = b64(`partner:${JSON.stringify({ password: tree.password })}`);
      await send(creds).expect(200);
      await t.dataSource.manager.update(User, { id: tree.partnerUser.id }, { password: null });
      await send(creds).expect(401);
    });
  });
});

import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import request from 'supertest';
import { CallbackRequest } from '../../src/callbacks/callback-request.entity';
import { HookDecision } from '../../src/hooks/hook-decision.entity';
import { HookOperation, HookPhase } from '../../src/hooks/hook-operation';
import { User } from '../../src/users/user.entity';
import { approve, HookServer, reject, startHookServer } from '../fakes/hook-server';
import { clearHooks, createHook } from '../factories/hooks';
import { createTree, createUser as createOrgUser, mapOrganization, Tree } from '../factories/organizations';
import { callback, Credentials, errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

type Json = Record<string, unknown>;

/** Every table but the decisions log: what a refused operation must leave untouched. */
async function domainSnapshot(t: TestApp): Promise<Record<string, unknown[]>> {
  const { hook_decisions: _decisions, ...rest } = await snapshot(t.dataSource);
  return rest;
}

describe('approval pre-hooks', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;
  let tenant: string;
  let hook: HookServer;
  let second: HookServer;
  const secret = 'whsec_' + Buffer.alloc(32, 7).toString('base64');

  beforeAll(async () => {
    t = await createTestApp({ WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8', WEBHOOKS_WORKER_ENABLED: 'false' });
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
    tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
    hook = await startHookServer({ secret });
    second = await startHookServer({ secret });
  });
  afterEach(async () => {
    await clearHooks(t.dataSource);
    hook.received.length = 0;
    second.received.length = 0;
    hook.answer(approve());
    second.answer(approve());
  });
  afterAll(async () => {
    await hook.close();
    await second.close();
    await t.close();
  });

  const api = (login = 'partner', password = tree.password) => ({
    post: (path: string, body: unknown) => request(t.server).post(`/api/hooks${path}`).set('X-CyberApp-Auth', cyberAppAuth(login, password)).send(body as object),
    get: (path: string) => request(t.server).get(`/api/hooks${path}`).set('X-CyberApp-Auth', cyberAppAuth(login, password)),
  });
  const register = async (body: Json, server: HookServer = hook): Promise<string> => {
    const res = await api().post('', { url: server.url, ssl_verification: false, secret, phase: 'pre', ...body }).expect(201);
    return res.body.id as string;
  };
  const createUser = (login: string, options: { requestId?: string } = {}) =>
    callback(t, partner, 'user_write', { login, name: `Name ${login}`, email: `${login}@example.com` }, { tenantId: tenant, ...options });
  const decisions = () => t.dataSource.getRepository(HookDecision).find({ order: { createdAt: 'ASC' } });
  const userExists = (login: string) => t.dataSource.getRepository(User).existsBy({ login });

  it('asks the hook before the operation, signed like a webhook, and goes ahead when it approves', async () => {
    const id = await register({ operations: ['user.create'] });
    hook.answer(approve('work-1'));
    await createUser('jane').expect(200);
    expect(await userExists('jane')).toBe(true);
    expect(hook.received).toHaveLength(1);
    const [call] = hook.received;
    expect(JSON.parse(call.body.toString('utf8'))).toEqual({
      operation: 'user.create',
      organization_id: tree.customers[0].id,
      auth_id: 'partner',
      input: { login: 'jane', name: 'Name jane', email: 'jane@example.com' },
    });
    expect(call.headers['x-cs-event']).toBe('pre.user.create');
    expect(call.verified).toEqual({ cs: true, standard: true });
    const [decision] = await decisions();
    expect(decision).toMatchObject({
      operation: HookOperation.UserCreate,
      hookId: id,
      hookOrganizationId: tree.partner.id,
      organizationId: tree.customers[0].id,
      authId: 'partner',
      outcome: 'approved',
      approved: true,
      workId: 'work-1',
      statusCode: 200,
      errorClass: null,
      policyApplied: false,
      failurePolicy: 'fail-closed',
    });
    expect(decision.latencyMs).toBeGreaterThanOrEqual(0);
    expect(decision.id).toBe(call.headers['webhook-id']);
  });

  it('answers a veto with the error envelope carrying the reason, and changes nothing', async () => {
    await register({ operations: ['user.create'] });
    hook.answer(reject('quota of 5 users reached'));
    const before = await domainSnapshot(t);
    const res = await createUser('vetoed').expect(403);
    expect(res.body).toEqual(errorEnvelope('FORBIDDEN', res.body.request_id));
    expect(res.body.err_message).toBe('Rejected by approval hook: quota of 5 users reached');
    expect(await domainSnapshot(t)).toEqual(before);
    expect(await decisions()).toMatchObject([{ outcome: 'rejected', approved: false, reason: 'quota of 5 users reached', policyApplied: false }]);
  });

  it('needs every hook of the operation to approve; all are asked at once and logged under one call id', async () => {
    await register({ operations: ['user.create'] });
    await register({ operations: ['user.create'] }, second);
    second.answer(reject('not on a Sunday'));
    const before = await domainSnapshot(t);
    const res = await createUser('two-hooks').expect(403);
    expect(res.body.err_message).toBe('Rejected by approval hook: not on a Sunday');
    expect(await domainSnapshot(t)).toEqual(before);
    const logged = await decisions();
    expect(logged.map((d) => d.outcome).sort()).toEqual(['approved', 'rejected']);
    expect(new Set(logged.map((d) => d.callId)).size).toBe(1);

    second.answer(approve());
    await createUser('two-hooks').expect(200);
    expect(hook.received).toHaveLength(2);
    expect(second.received).toHaveLength(2);
  });

  it('calls only the hooks registered for the operation, by the organization or an ancestor, and enabled', async () => {
    await register({ operations: ['user.delete'] });
    await register({ operations: ['user.create'], enabled: false });
    // A hook of a sibling subtree (the sub-partner) does not cover the partner's customers.
    const subUser = { login: 'sub-admin', password: 'sub-password' };
    await createOrgUser(t.dataSource, { organizationId: tree.subPartner.id, login: subUser.login, password: subUser.password });
    await api(subUser.login, subUser.password).post('', { url: second.url, ssl_verification: false, operations: ['user.create'] }).expect(201);
    await createUser('unhooked').expect(200);
    expect(hook.received).toHaveLength(0);
    expect(second.received).toHaveLength(0);
    expect(await decisions()).toHaveLength(0);
  });

  it('does not ask again for a repeated request_id: the stored answer is replayed', async () => {
    await register({ operations: ['user.create'] });
    const requestId = randomUUID();
    await createUser('once', { requestId }).expect(200);
    await createUser('once', { requestId }).expect(200);
    expect(hook.received).toHaveLength(1);
  });

  it('asks the hooks again for a request_id whose stored answer is past the idempotency window, and a veto then holds', async () => {
    await register({ operations: ['user.create'] });
    const requestId = randomUUID();
    await createUser('first', { requestId }).expect(200);
    const stored = { requestId, callbackId: expect.any(String) as string };
    const repo = t.dataSource.getRepository(CallbackRequest);
    expect(await repo.findOneBy({ requestId })).toMatchObject(stored);
    await repo.update({ requestId }, { createdAt: new Date(Date.now() - 2 * 24 * 3600 * 1000) });
    hook.answer(reject('not again'));
    const before = await domainSnapshot(t);
    const res = await createUser('second', { requestId }).expect(403);
    expect(res.body).toEqual(errorEnvelope('FORBIDDEN', res.body.request_id));
    expect(hook.received).toHaveLength(2);
    expect(await userExists('second')).toBe(false);
    expect(await domainSnapshot(t)).toEqual(before);
  });

  it('refuses a request that cannot succeed before asking the hooks (unknown user: 404)', async () => {
    await register({ operations: ['user.delete'] });
    await callback(t, partner, 'user_delete', { id: randomUUID() }, { tenantId: tenant }).expect(404);
    expect(hook.received).toHaveLength(0);
  });

  it.each([
    ['enablement.write', () => callback(t, { login: 'other', password: 'other-password' }, 'enablement.write', { acronis_tenant_id: randomUUID() })],
    ['enablement.reset', () => callback(t, { login: 'other', password: 'other-password' }, 'enablement.reset')],
    ['tenant_mapping.write', () => callback(t, { login: 'other', password: 'other-password' }, 'tenant_mapping.write', { modified: [{ vendor_tenant_id: tree.otherCustomer.id, acronis_tenant_id: randomUUID() }] })],
  ])('hooks %s too: a veto leaves the data untouched', async (operation, send) => {
    await api('other', 'other-password').post('', { url: hook.url, ssl_verification: false, operations: [operation], phase: 'pre' }).expect(201);
    hook.answer(reject('frozen'));
    const before = await domainSnapshot(t);
    const res = await send().expect(403);
    expect(res.body.err_message).toBe('Rejected by approval hook: frozen');
    expect(await domainSnapshot(t)).toEqual(before);
    expect(JSON.parse(hook.received[0].body.toString('utf8'))).toMatchObject({ operation, organization_id: tree.other.id, auth_id: 'other' });
  });

  it('hooks webhook subscription changes, without the secret in the input', async () => {
    await register({ operations: ['webhook.create'] });
    hook.answer(reject('no new webhooks'));
    const before = await domainSnapshot(t);
    const res = await request(t.server)
      .post('/api/webhooks')
      .set('X-CyberApp-Auth', cyberAppAuth('partner', tree.password))
      .send({ name: 'audit', payload_url: 'http://127.0.0.1:9/x', ssl_verification: false, secret: 'very-secret' })
      .expect(403);
    expect(res.body.err_message).toBe('Rejected by approval hook: no new webhooks');
    expect(await domainSnapshot(t)).toEqual(before);
    const sent = hook.received[0].body.toString('utf8');
    expect(sent).not.toContain('very-secret');
    expect(JSON.parse(sent)).toMatchObject({ operation: 'webhook.create', input: { name: 'audit', secret_given: true } });
  });

  describe('a hook that gives no valid answer follows its failure policy, and the decision is recorded', () => {
    let closedPort: number;
    beforeAll(async () => {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      closedPort = (probe.address() as AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    });

    const cases: Array<[string, () => Parameters<HookServer['answer']>[0] | null, string]> = [
      ['a timeout', () => ({ status: 200, body: '{"approved":true}', delayMs: 1500 }), 'timeout'],
      ['a refused connection', () => null, 'connect'],
      ['an answer that is not JSON', () => ({ status: 200, body: 'OK' }), 'malformed'],
      ['an answer without "approved"', () => ({ status: 200, body: '{"work_id":"w"}' }), 'malformed'],
      ['a string "approved"', () => ({ status: 200, body: '{"approved":"yes"}' }), 'malformed'],
      ['a redirect', () => ({ redirect: 'http://127.0.0.1:9/elsewhere' }), 'redirect'],
      ['a huge answer', () => ({ status: 200, body: `{"approved":true,"pad":"${'x'.repeat(5000)}"}` }), 'too_large'],
      ['a 500', () => ({ status: 500, body: '{"approved":true}' }), 'http'],
      ['a dropped connection', () => 'close', 'connect'],
    ];

    for (const policy of ['fail-closed', 'fail-open'] as const) {
      it.each(cases)(`${policy}: %s`, async (_name, behaviour, errorClass) => {
        const chosen = behaviour();
        const url = chosen === null ? `http://127.0.0.1:${closedPort}/hook` : hook.url;
        if (chosen !== null) hook.answer(chosen);
        await api().post('', { url, ssl_verification: false, operations: ['user.create'], phase: 'pre', timeout_ms: 500, failure_policy: policy }).expect(201);
        const login = `p-${randomUUID().slice(0, 8)}`;
        const before = await domainSnapshot(t);
        const started = Date.now();
        if (policy === 'fail-closed') {
          const res = await createUser(login).expect(403);
          expect(res.body).toEqual(errorEnvelope('FORBIDDEN', res.body.request_id));
          expect(res.body.err_message).toBe(`Rejected by approval hook: an approval hook failed (${errorClass}) and its policy is fail-closed`);
          expect(await domainSnapshot(t)).toEqual(before);
        } else {
          await createUser(login).expect(200);
          expect(await userExists(login)).toBe(true);
        }
        expect(Date.now() - started).toBeLessThan(1400);
        const [decision] = await decisions();
        expect(decision).toMatchObject({
          outcome: policy === 'fail-closed' ? 'rejected' : 'approved',
          approved: null,
          errorClass,
          policyApplied: true,
          failurePolicy: policy,
        });
        expect(decision.error).toEqual(expect.any(String));
      });
    }
  });

  describe('forbidden addresses', () => {
    it.each(['http://10.0.0.8/hook', 'http://169.254.169.254/latest', 'http://[::1]:8080/hook', 'ftp://127.0.0.1/hook'])(
      'refuses to register %s (400), storing nothing',
      async (url) => {
        const before = await snapshot(t.dataSource);
        const res = await api().post('', { url, ssl_verification: false, operations: ['user.create'] }).expect(400);
        expect(res.body).toEqual(errorEnvelope('VALIDATION_FAILED'));
        expect(await snapshot(t.dataSource)).toEqual(before);
      },
    );

    it('blocks a stored hook whose address became forbidden at call time: recorded as blocked, then the policy', async () => {
      await createHook(t.dataSource, { organizationId: tree.partner.id, url: 'http://10.20.30.40/hook', operations: [HookOperation.UserCreate], phase: HookPhase.Pre });
      const before = await domainSnapshot(t);
      const res = await createUser('blocked').expect(403);
      expect(res.body.err_message).toContain('(blocked)');
      expect(await domainSnapshot(t)).toEqual(before);
      expect(await decisions()).toMatchObject([{ errorClass: 'blocked', outcome: 'rejected', policyApplied: true }]);
    });
  });
});

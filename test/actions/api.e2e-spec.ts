import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { Action, ActionState } from '../../src/actions/action.entity';
import { mapOrganization } from '../factories/organizations';
import { createHandlerSetup } from '../factories/actions';
import { errorEnvelope } from '../setup/callback-client';
import { APP_CODE, cyberAppAuth, ENDPOINT_ID, responseType } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';
import { ActionTestApp, createActionTestApp } from './action-test-app';

describe('actions API', () => {
  let t: ActionTestApp;
  let otherAuth: string;
  const as = (auth: string | null, method: 'get' | 'post' | 'patch' | 'delete', path: string): request.Test => {
    const req = request(t.server)[method](path);
    return auth ? req.set('X-CyberApp-Auth', auth) : req;
  };
  const submitBody = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ capability: 'ExecuteCommand', parameters: { Command: 'uptime' }, ...extra });

  beforeEach(async () => {
    t = await createActionTestApp();
    otherAuth = cyberAppAuth('other', 'other-password');
  });
  afterEach(() => t.close());

  describe('capabilities', () => {
    it('creates, lists, reads, changes and deletes a capability', async () => {
      const created = await as(t.auth, 'post', '/api/actions/capabilities')
        .send({ name: 'RestartService', description: 'Restarts a service', mandatory_parameters: ['Service'], optional_parameters: ['Host'] })
        .expect(201);
      expect(created.body).toEqual({
        id: expect.any(String),
        organization_id: t.tree.partner.id,
        name: 'RestartService',
        description: 'Restarts a service',
        mandatory_parameters: ['Service'],
        optional_parameters: ['Host'],
        created_at: expect.any(String),
        updated_at: expect.any(String),
      });
      const id = (created.body as { id: string }).id;
      const list = await as(t.auth, 'get', '/api/actions/capabilities').expect(200);
      expect((list.body as { items: Array<{ name: string }> }).items.map((c) => c.name)).toEqual(['ExecuteCommand', 'RestartService']);
      await as(t.auth, 'get', `/api/actions/capabilities/${id}`).expect(200);
      const changed = await as(t.auth, 'patch', `/api/actions/capabilities/${id}`).send({ mandatory_parameters: ['Service', 'Mode'] }).expect(200);
      expect((changed.body as { mandatory_parameters: string[] }).mandatory_parameters).toEqual(['Service', 'Mode']);
      await as(t.auth, 'delete', `/api/actions/capabilities/${id}`).expect(204);
      await as(t.auth, 'get', `/api/actions/capabilities/${id}`).expect(404);
    });

    it('refuses a duplicate name in the organization with 409, leaving everything unchanged', async () => {
      const before = await snapshot(t.dataSource);
      const res = await as(t.auth, 'post', '/api/actions/capabilities').send({ name: 'ExecuteCommand' }).expect(409);
      expect(res.body).toEqual(errorEnvelope('CONFLICT'));
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it.each([
      ['a missing name', {}],
      ['a name that is not an identifier', { name: 'rm -rf' }],
      ['parameters that are not a list of names', { name: 'X', mandatory_parameters: 'Command' }],
      ['a parameter both mandatory and optional', { name: 'X', mandatory_parameters: ['A'], optional_parameters: ['A'] }],
      ['duplicate parameter names', { name: 'X', mandatory_parameters: ['A', 'A'] }],
    ])('answers 400 to %s, leaving everything unchanged', async (_name, body) => {
      const before = await snapshot(t.dataSource);
      const res = await as(t.auth, 'post', '/api/actions/capabilities').send(body).expect(400);
      expect(res.body).toEqual(errorEnvelope('VALIDATION_FAILED'));
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it("hides another partner's capabilities (404) and refuses its organization (403)", async () => {
      const before = await snapshot(t.dataSource);
      await as(otherAuth, 'get', `/api/actions/capabilities/${t.setup.capability.id}`).expect(404);
      await as(otherAuth, 'delete', `/api/actions/capabilities/${t.setup.capability.id}`).expect(404);
      await as(otherAuth, 'post', '/api/actions/capabilities').send({ name: 'X', organization_id: t.tree.partner.id }).expect(403);
      expect(((await as(otherAuth, 'get', '/api/actions/capabilities').expect(200)).body as { items: unknown[] }).items).toEqual([]);
      expect(await snapshot(t.dataSource)).toEqual(before);
    });
  });

  describe('handlers and applicabilities', () => {
    it('issues a token once, stores only its hash, and lists handlers without it', async () => {
      const res = await as(t.auth, 'post', '/api/actions/handlers').send({ name: 'dc-2' }).expect(201);
      const body = res.body as { id: string; token: string };
      expect(body.token).toMatch(/^ahk_[A-Za-z0-9_-]{43}$/);
      const rows: Array<Record<string, unknown>> = await t.dataSource.query('SELECT * FROM action_handlers');
      expect(JSON.stringify(rows)).not.toContain(body.token);
      const list = await as(t.auth, 'get', '/api/actions/handlers').expect(200);
      expect(JSON.stringify(list.body)).not.toContain(body.token);
      expect((list.body as { items: Array<{ name: string; connected: boolean }> }).items.map((h) => h.name)).toContain('dc-2');
      await as(t.auth, 'post', '/api/actions/handlers').send({ name: 'dc-2' }).expect(409);
    });

    it('lets a handler serve a capability once, and only within one organization', async () => {
      const handler = (await as(t.auth, 'post', '/api/actions/handlers').send({ name: 'dc-2' }).expect(201)).body as { id: string };
      const created = await as(t.auth, 'post', '/api/actions/applicabilities')
        .send({ handler_id: handler.id, capability_id: t.setup.capability.id, parameters: { Host: 'srv1' } })
        .expect(201);
      expect(created.body).toMatchObject({ handler_id: handler.id, capability: 'ExecuteCommand', parameters: { Host: 'srv1' } });
      await as(t.auth, 'post', '/api/actions/applicabilities').send({ handler_id: handler.id, capability_id: t.setup.capability.id }).expect(409);
      const foreign = await createHandlerSetup(t.dataSource, t.tree.other.id, 'Other');
      await as(t.auth, 'post', '/api/actions/applicabilities').send({ handler_id: foreign.handler.id, capability_id: t.setup.capability.id }).expect(404);
      await as(t.auth, 'delete', `/api/actions/applicabilities/${(created.body as { id: string }).id}`).expect(204);
    });
  });

  describe('submitting', () => {
    it('writes a pending action with the applicability parameters under the submitted ones', async () => {
      const res = await as(t.auth, 'post', '/api/actions').send(submitBody({ timeout_ms: 5000 })).expect(201);
      expect(res.body).toMatchObject({
        organization_id: t.tree.partner.id,
        handler_id: t.setup.handler.id,
        capability: 'ExecuteCommand',
        parameters: { Command: 'uptime' },
        timeout_ms: 5000,
        state: 'pending',
        result: null,
        submitted_by: 'partner',
      });
      const list = await as(t.auth, 'get', '/api/actions?state=pending').expect(200);
      expect(list.body).toMatchObject({ total: 1, items: [{ id: (res.body as { id: string }).id }] });
    });

    it.each([
      ['missing mandatory parameters', submitBody({ parameters: {} }), 400, 'VALIDATION_FAILED'],
      ['an unknown parameter', submitBody({ parameters: { Command: 'x', Shell: 'bash' } }), 400, 'VALIDATION_FAILED'],
      ['parameters that are not an object', submitBody({ parameters: 'uptime' }), 400, 'VALIDATION_FAILED'],
      ['a timeout that is not an integer', submitBody({ timeout_ms: '5000' }), 400, 'VALIDATION_FAILED'],
      ['a timeout below one second', submitBody({ timeout_ms: 10 }), 400, 'VALIDATION_FAILED'],
      ['an unknown capability', submitBody({ capability: 'Nope' }), 404, 'NOT_FOUND'],
      ['a handler that does not serve it', submitBody({ handler_id: randomUUID() }), 400, 'VALIDATION_FAILED'],
      ['an empty organization_id', submitBody({ organization_id: '' }), 400, 'VALIDATION_FAILED'],
      ['a body that is not an object', [1, 2], 400, 'VALIDATION_FAILED'],
    ])('answers %s with a precise 4xx and stores nothing', async (_name, body, status, code) => {
      const before = await snapshot(t.dataSource);
      const res = await as(t.auth, 'post', '/api/actions').send(body as object).expect(status);
      expect(res.body).toEqual(errorEnvelope(code));
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it("answers 403 for another partner's organization, 401 without credentials, 400 to malformed JSON, 413 to an oversize body", async () => {
      const before = await snapshot(t.dataSource);
      await as(t.auth, 'post', '/api/actions').send(submitBody({ organization_id: t.tree.other.id })).expect(403);
      await as(null, 'post', '/api/actions').send(submitBody()).expect(401);
      await as(t.auth, 'post', '/api/actions').set('content-type', 'application/json').send('{"capability": ').expect(400);
      await as(t.auth, 'post', '/api/actions').send(submitBody({ parameters: { Command: 'x'.repeat(3 * 1024 * 1024) } })).expect(413);
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it("hides unknown and another partner's actions alike (404)", async () => {
      const id = ((await as(t.auth, 'post', '/api/actions').send(submitBody()).expect(201)).body as { id: string }).id;
      await as(otherAuth, 'get', `/api/actions/${id}`).expect(404);
      await as(t.auth, 'get', `/api/actions/${randomUUID()}`).expect(404);
      await as(t.auth, 'get', `/api/actions/${'x'.repeat(90)}`).expect(404);
      expect(((await as(otherAuth, 'get', '/api/actions').expect(200)).body as { total: number }).total).toBe(0);
      await as(t.auth, 'get', '/api/actions?state=bogus').expect(400);
    });
  });

  describe('handler REST reads (bearer token)', () => {
    it("answers the handler's capabilities and applicabilities", async () => {
      const caps = await request(t.server).get('/api/action/1.0/capabilities').set('Authorization', `Bearer ${t.setup.token}`).expect(200);
      expect(caps.body).toMatchObject({ items: [{ name: 'ExecuteCommand', mandatory_parameters: ['Command'], optional_parameters: ['Host'] }] });
      const apps = await request(t.server).get('/api/action/1.0/applicabilities').set('Authorization', `Bearer ${t.setup.token}`).expect(200);
      expect(apps.body).toMatchObject({ items: [{ handler_id: t.setup.handler.id, capability: 'ExecuteCommand' }] });
    });

    it('answers 401 to a missing, malformed or unknown token', async () => {
      for (const header of [undefined, 'Bearer', 'Basic abc', `Bearer ahk_${'A'.repeat(43)}`]) {
        const req = request(t.server).get('/api/action/1.0/capabilities');
        const res = await (header ? req.set('Authorization', header) : req).expect(401);
        expect(res.body).toEqual(errorEnvelope('UNAUTHENTICATED'));
      }
    });
  });

  describe(`callback ${APP_CODE}.action_submit.v1.0`, () => {
    const callbackEnvelope = (tenantId: string, payload: Record<string, unknown>, requestId = randomUUID()): Record<string, unknown> => ({
      type: `cti.a.p.acgw.request.v1.0~${APP_CODE}.action_submit.v1.0`,
      request_id: requestId,
      created_at: new Date().toISOString(),
      context: { callback_id: `cti.a.p.acgw.callback.v1.0~${APP_CODE}.action_submit.v1.0`, endpoint_id: ENDPOINT_ID, tenant_id: tenantId },
      payload,
    });

    it('submits in the organization mapped to the tenant and answers the action id; a retry writes nothing more', async () => {
      const tenant = (await mapOrganization(t.dataSource, t.tree.partner.id)).acronisTenantId;
      const body = callbackEnvelope(tenant, { capability: 'ExecuteCommand', parameters: { Command: 'uptime' } });
      const res = await request(t.server).post('/callback').set('X-CyberApp-Auth', t.auth).send(body).expect(200);
      expect(res.body).toMatchObject({
        type: responseType(`${APP_CODE}.action_submit_success.v1.0`),
        payload: { id: expect.any(String), state: 'pending', handler_id: t.setup.handler.id },
      });
      const again = await request(t.server).post('/callback').set('X-CyberApp-Auth', t.auth).send(body).expect(200);
      expect((again.body as { payload: unknown }).payload).toEqual((res.body as { payload: unknown }).payload);
      const rows = await t.dataSource.manager.find(Action);
      expect(rows.map((r) => [r.organizationId, r.state])).toEqual([[t.tree.partner.id, ActionState.Pending]]);
    });

    it('answers 400 to missing mandatory parameters and 404 to an unmapped tenant, storing nothing', async () => {
      const tenant = (await mapOrganization(t.dataSource, t.tree.partner.id)).acronisTenantId;
      const before = await snapshot(t.dataSource);
      await request(t.server).post('/callback').set('X-CyberApp-Auth', t.auth).send(callbackEnvelope(tenant, { capability: 'ExecuteCommand' })).expect(400);
      await request(t.server)
        .post('/callback')
        .set('X-CyberApp-Auth', t.auth)
        .send(callbackEnvelope(randomUUID(), { capability: 'ExecuteCommand', parameters: { Command: 'x' } }))
        .expect(404);
      expect(await snapshot(t.dataSource)).toEqual(before);
    });
  });
});

import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { Action, ActionState } from '../../src/actions/action.entity';
import { createHandlerSetup } from '../factories/actions';
import { cyberAppAuth } from '../setup/protocol';
import { ActionTestApp, createActionTestApp } from './action-test-app';

type Json = Record<string, unknown>;

/** `before=<id>` key paging and the capability filter of GET /api/actions; last_seen_at on handlers. */
describe('actions API: key paging', () => {
  let t: ActionTestApp;
  const get = (path: string, auth = t.auth) => request(t.server).get(path).set('X-CyberApp-Auth', auth);

  const insert = async (organizationId: string, handlerId: string, n: number, capability: string, state = ActionState.Completed): Promise<void> => {
    const start = Date.now() - 60_000;
    for (let i = 0; i < n; i++) {
      const at = new Date(start + i);
      await t.dataSource.manager.insert(Action, {
        id: randomUUID(), organizationId, handlerId, capability, parameters: {}, timeoutMs: 60_000, state, sendCount: 1, result: null, resultCode: null,
        submittedBy: 'test', submittedAt: at, sentAt: at, ackedAt: null, completedAt: at, expiresAt: new Date(at.getTime() + 60_000),
      });
    }
  };

  beforeAll(async () => {
    t = await createActionTestApp();
    await insert(t.tree.partner.id, t.setup.handler.id, 12, 'ExecuteCommand');
    await insert(t.tree.partner.id, t.setup.handler.id, 3, 'Reboot', ActionState.Expired);
  });
  afterAll(() => t.close());

  it('gives the actions after the cursor, newest first, with the filters kept', async () => {
    const all = (await get('/api/actions').expect(200)).body.items as Json[];
    expect(all).toHaveLength(15);
    const ids: string[] = [];
    let before: string | undefined;
    for (;;) {
      const page = (await get(`/api/actions?limit=4${before ? `&before=${before}` : ''}`).expect(200)).body.items as Json[];
      if (page.length === 0) break;
      ids.push(...page.map((a) => a.id as string));
      before = page.at(-1)?.id as string;
    }
    expect(ids).toEqual(all.map((a) => a.id));
    const reboots = (await get(`/api/actions?capability=Reboot&state=expired&before=${all[0].id as string}`).expect(200)).body.items as Json[];
    expect(reboots.map((a) => a.id)).toEqual(all.slice(1).filter((a) => a.capability === 'Reboot').map((a) => a.id));
    expect(reboots).toHaveLength(2);
  });

  it('refuses a cursor of another organization, an unknown one, and before with offset (400)', async () => {
    const other = await createHandlerSetup(t.dataSource, t.tree.other.id, 'OtherCapability');
    await insert(t.tree.other.id, other.handler.id, 1, 'OtherCapability');
    const foreign = ((await get('/api/actions', cyberAppAuth('other', 'other-password')).expect(200)).body.items as Json[])[0].id as string;
    for (const cursor of [foreign, randomUUID()]) {
      expect((await get(`/api/actions?before=${cursor}`).expect(400)).body.message).toBe('Invalid request: before must be the id of an action you can see.');
    }
    expect((await get(`/api/actions?before=${foreign}&offset=0`).expect(400)).body.message).toBe('Invalid request: before and offset cannot be used together.');
  });

  it('documents before and capability in OpenAPI', async () => {
    const doc = (await request(t.server).get('/api/docs-json').expect(200)).body as { paths: Record<string, Record<string, { parameters: Array<{ name: string; in: string }> }>> };
    expect(doc.paths['/api/actions'].get.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(['query:state', 'query:capability', 'query:before', 'query:limit']));
  });

  it('shows when each handler was last seen', async () => {
    const handlers = (await get('/api/actions/handlers').expect(200)).body.items as Json[];
    expect(handlers[0]).toMatchObject({ id: t.setup.handler.id, connected: false, last_seen_at: null });
  });
});

import { randomUUID } from 'node:crypto';
import request from 'supertest';
import WebSocket from 'ws';
import { ActionConnectionRegistry } from '../../src/actions/action-connection-registry.service';
import { ActionLedgerService } from '../../src/actions/action-ledger.service';
import { Action, ActionState } from '../../src/actions/action.entity';
import { DomainEvent } from '../../src/events/event.entity';
import { createHandlerSetup } from '../factories/actions';
import { ActionWsClient } from '../fakes/action-ws-client';
import { sleep } from '../process/service-process';
import { ActionTestApp, createActionTestApp } from './action-test-app';

jest.setTimeout(60_000);

describe('action channel (WebSocket protocol action-1.0.0)', () => {
  let t: ActionTestApp;
  const clients: ActionWsClient[] = [];
  const connect = async (token = t.setup.token): Promise<ActionWsClient> => {
    const c = await ActionWsClient.connect(t.port, token);
    clients.push(c);
    return c;
  };
  const submit = async (body: Record<string, unknown> = {}): Promise<string> => {
    const res = await request(t.server)
      .post('/api/actions')
      .set('X-CyberApp-Auth', t.auth)
      .send({ capability: 'ExecuteCommand', parameters: { Command: 'uptime' }, ...body })
      .expect(201);
    return (res.body as { id: string }).id;
  };
  const row = (id: string): Promise<Action> => t.dataSource.manager.findOneOrFail(Action, { where: { id } });
  const until = async (check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not reached');
      await sleep(50);
    }
  };
  const events = (type: string): Promise<DomainEvent[]> => t.dataSource.manager.find(DomainEvent, { where: { type } });

  beforeEach(async () => {
    t = await createActionTestApp();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await t.close();
  });

  describe('authentication', () => {
    it('answers a wrong token with the 401 error frame, then closes', async () => {
      const c = await connect('ahk_' + 'x'.repeat(43));
      const frame = await c.next((f) => f.type === 'error');
      expect(frame).toEqual({ type: 'error', code: 401, message: expect.any(String) });
      expect(await c.closed).toBe(1008);
    });

    it('answers a missing token with the 401 error frame, then closes', async () => {
      const c = await ActionWsClient.connect(t.port, null);
      clients.push(c);
      expect((await c.next((f) => f.type === 'error')).code).toBe(401);
      expect(await c.closed).toBe(1008);
    });

    it('refuses an upgrade without the action-1.0.0 subprotocol with HTTP 400', async () => {
      await expect(ActionWsClient.connect(t.port, null, [`token-${t.setup.token}`])).rejects.toThrow('HTTP 400');
    });

    it('closes the connections of a revoked handler with the 401 frame and refuses its token afterwards', async () => {
      const c = await connect();
      await request(t.server).post(`/api/actions/handlers/${t.setup.handler.id}/revoke`).set('X-CyberApp-Auth', t.auth).expect(200);
      expect((await c.next((f) => f.type === 'error')).code).toBe(401);
      expect(await c.closed).toBe(1008);
      const again = await connect();
      expect((await again.next((f) => f.type === 'error')).code).toBe(401);
    });
  });

  it('runs submit → acknowledged → sendActionResult → acknowledged, stores the result and records action.completed', async () => {
    const c = await connect();
    const id = await submit({ parameters: { Command: 'uptime', Host: 'srv1' }, timeout_ms: 60_000 });
    const frame = await c.submitFor(id);
    expect(frame).toEqual({
      type: 'submitAction',
      id,
      handler: t.setup.handler.name,
      capability: 'ExecuteCommand',
      parameters: { Command: 'uptime', Host: 'srv1' },
      timeout: expect.any(Number),
    });
    expect(frame.timeout).toBeGreaterThan(50_000);
    expect(frame.timeout).toBeLessThanOrEqual(60_000);
    expect((await row(id)).state).toBe(ActionState.Sent);

    c.ack(id);
    await until(async () => (await row(id)).state === ActionState.Acknowledged);

    const ack = c.nextFor('acknowledged', id);
    c.result(id, { message: 'Action successful', code: 200, data: ' 12:00 up 1 day' });
    expect(await ack).toEqual({ type: 'acknowledged', id, code: 200, message: expect.any(String) });

    const stored = await row(id);
    expect(stored.state).toBe(ActionState.Completed);
    expect(stored.resultCode).toBe(200);
    expect(JSON.parse(stored.result ?? '')).toEqual({ message: 'Action successful', code: 200, data: ' 12:00 up 1 day' });
    const completed = await events('action.completed');
    expect(completed).toHaveLength(1);
    expect(completed[0].organizationId).toBe(t.tree.partner.id);
    expect(completed[0].data).toMatchObject({ action_id: id, handler_id: t.setup.handler.id, capability: 'ExecuteCommand', result_code: 200 });

    const res = await request(t.server).get(`/api/actions/${id}`).set('X-CyberApp-Auth', t.auth).expect(200);
    expect(res.body).toMatchObject({ id, state: 'completed', result: { code: 200, data: ' 12:00 up 1 day' }, result_code: 200, send_count: 1 });
  });

  it('acknowledges a duplicate result again without storing it a second time', async () => {
    const c = await connect();
    const id = await submit();
    await c.submitFor(id);
    c.ack(id);
    const first = c.nextFor('acknowledged', id);
    c.result(id, { message: 'first', code: 200 });
    await first;
    const second = c.nextFor('acknowledged', id);
    c.result(id, { message: 'second', code: 500 });
    expect((await second).code).toBe(200);
    expect(JSON.parse((await row(id)).result ?? '')).toEqual({ message: 'first', code: 200 });
    expect(await events('action.completed')).toHaveLength(1);
  });

  it('stores a large result whole but keeps only its code and message in the event', async () => {
    const c = await connect();
    const id = await submit();
    await c.submitFor(id);
    const ack = c.nextFor('acknowledged', id);
    const data = 'y'.repeat(100_000);
    c.result(id, { message: 'big', code: 200, data });
    expect((await ack).code).toBe(200);
    expect((JSON.parse((await row(id)).result ?? '') as { data: string }).data).toBe(data);
    const [event] = await events('action.completed');
    expect(event.data).toMatchObject({ result: { code: 200, message: 'big' }, result_truncated: true });
  });

  it.each([
    ['a result that is neither a string nor an object', 200, 400],
    ['a result that is not JSON', '{not json', 400],
    ['a result that is a JSON array', '[1,2]', 400],
    ['a result without a code', JSON.stringify({ message: 'ok' }), 400],
    ['a result with a non-string message', JSON.stringify({ message: 5, code: 200 }), 400],
    ['an oversize result', JSON.stringify({ message: 'x'.repeat(1_100_000), code: 200 }), 413],
  ])('nacks %s and leaves the action open', async (_name, result, code) => {
    const c = await connect();
    const id = await submit();
    await c.submitFor(id);
    c.ack(id);
    await until(async () => (await row(id)).state === ActionState.Acknowledged);
    const nack = c.nextFor('negativeAcknowledged', id);
    c.send({ type: 'sendActionResult', id, result });
    expect(await nack).toEqual({ type: 'negativeAcknowledged', id, code, message: expect.any(String) });
    const after = await row(id);
    expect(after.state).toBe(ActionState.Acknowledged);
    expect(after.result).toBeNull();
    // The connection is still usable: a good result is taken.
    const ack = c.nextFor('acknowledged', id);
    c.result(id);
    expect((await ack).code).toBe(200);
  });

  it("nacks results for unknown ids and for another handler's actions with 404, changing nothing", async () => {
    const other = await createHandlerSetup(t.dataSource, t.tree.other.id);
    const foreign = await connect(other.token);
    const c = await connect();
    const id = await submit();
    await c.submitFor(id);
    const n1 = foreign.nextFor('negativeAcknowledged', id);
    foreign.result(id);
    expect((await n1).code).toBe(404);
    const unknown = '7f0c0000-0000-4000-8000-000000000000';
    const n2 = c.nextFor('negativeAcknowledged', unknown);
    c.result(unknown);
    expect((await n2).code).toBe(404);
    expect((await row(id)).state).toBe(ActionState.Sent);
    expect(await events('action.completed')).toHaveLength(0);
  });

  it('answers frames that are not JSON objects with an error frame and keeps the connection', async () => {
    const c = await connect();
    for (const text of ['not json', '[1]', '"x"', 'null']) {
      const err = c.nextFor('error');
      c.send(text);
      expect(await err).toEqual({ type: 'error', code: 400, message: expect.any(String) });
    }
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('nacks an unknown frame type with an id, and ignores one without an id', async () => {
    const c = await connect();
    const nack = c.nextFor('negativeAcknowledged', 'abc');
    c.send({ type: 'bogus', id: 'abc' });
    expect((await nack).code).toBe(400);
    const before = c.frames.length;
    c.send({ type: 'heartbeat' });
    c.send({ type: 'hello', version: 1 });
    const id = await submit();
    await c.submitFor(id);
    expect(c.frames.slice(before).map((f) => f.type)).toEqual(['submitAction']);
  });

  it('sends actions submitted while the handler was away once it connects, with the same id', async () => {
    const id = await submit();
    await sleep(300);
    expect((await row(id)).state).toBe(ActionState.Pending);
    const c = await connect();
    expect((await c.submitFor(id)).id).toBe(id);
  });

  it('picks up, by its poll, a pending action written by another replica while the handler is connected here', async () => {
    const c = await connect();
    const id = randomUUID();
    const now = new Date();
    // What a replica without this handler's connection leaves in the ledger.
    await t.dataSource.manager.insert(Action, {
      id,
      organizationId: t.tree.partner.id,
      handlerId: t.setup.handler.id,
      capability: 'ExecuteCommand',
      parameters: { Command: 'uptime' },
      timeoutMs: 60_000,
      state: ActionState.Pending,
      sendCount: 0,
      result: null,
      resultCode: null,
      submittedBy: 'elsewhere',
      submittedAt: now,
      sentAt: null,
      ackedAt: null,
      completedAt: null,
      expiresAt: new Date(now.getTime() + 60_000),
    });
    expect((await c.submitFor(id, 3000)).parameters).toEqual({ Command: 'uptime' });
    expect((await row(id)).state).toBe(ActionState.Sent);
  });

  it('sends again an action sent long ago without a result (its connection elsewhere died silently), and not one sent just now', async () => {
    const c = await connect();
    const now = Date.now();
    const base = {
      organizationId: t.tree.partner.id,
      handlerId: t.setup.handler.id,
      capability: 'ExecuteCommand',
      parameters: { Command: 'uptime' },
      timeoutMs: 3_600_000,
      sendCount: 1,
      result: null,
      resultCode: null,
      submittedBy: 'elsewhere',
      ackedAt: null,
      completedAt: null,
      expiresAt: new Date(now + 3_000_000),
    };
    // What another replica leaves when it sent (or even got the ack) on a connection that then went silent.
    const stale = { ...base, id: randomUUID(), state: ActionState.Acknowledged, submittedAt: new Date(now - 600_000), sentAt: new Date(now - 600_000) };
    const recent = { ...base, id: randomUUID(), state: ActionState.Sent, submittedAt: new Date(now), sentAt: new Date(now) };
    await sleep(300); // the open actions sent on connect: none
    await t.dataSource.manager.insert(Action, stale);
    await t.dataSource.manager.insert(Action, recent);
    expect((await c.submitFor(stale.id, 3000)).parameters).toEqual({ Command: 'uptime' });
    expect((await row(stale.id)).sendCount).toBe(2);
    await sleep(500);
    expect(c.frames.filter((f) => f.id === recent.id)).toEqual([]);
    c.ack(stale.id);
    c.result(stale.id);
    await until(async () => (await row(stale.id)).state === ActionState.Completed);
  });

  it('puts an action written as sent back to pending when its handler left before the commit, so that any replica sends it', async () => {
    const c = await connect();
    const ledger = t.app.get(ActionLedgerService);
    const action = await ledger.write(t.dataSource.manager, t.tree.partner.id, { capability: 'ExecuteCommand', parameters: { Command: 'x' } }, 'test');
    expect(action.state).toBe(ActionState.Sent);
    await c.close();
    await until(() => Promise.resolve(!t.app.get(ActionConnectionRegistry).isConnected(t.setup.handler.id)));
    ledger.announce(action);
    await until(async () => (await row(action.id)).state === ActionState.Pending);
    const again = await connect();
    expect((await again.submitFor(action.id)).id).toBe(action.id);
  });

  it('resends an action whose connection dropped before the ack, and one dropped before the result; it completes once', async () => {
    const c1 = await connect();
    const id = await submit();
    await c1.submitFor(id);
    await c1.close();

    const c2 = await connect();
    await c2.submitFor(id);
    c2.ack(id);
    await until(async () => (await row(id)).state === ActionState.Acknowledged);
    await c2.close();

    const c3 = await connect();
    await c3.submitFor(id);
    const ack = c3.nextFor('acknowledged', id);
    c3.result(id);
    expect((await ack).code).toBe(200);
    const done = await row(id);
    expect(done.state).toBe(ActionState.Completed);
    expect(done.sendCount).toBe(3);
    expect(await events('action.completed')).toHaveLength(1);
  });

  it("marks the handler's refusal (its negativeAcknowledged) as failed with action.failed", async () => {
    const c = await connect();
    const id = await submit();
    await c.submitFor(id);
    c.send({ type: 'negativeAcknowledged', id, code: 501, message: 'capability not supported here' });
    await until(async () => (await row(id)).state === ActionState.Failed);
    expect(await events('action.failed')).toHaveLength(1);
    const ack = c.nextFor('acknowledged', id);
    c.result(id);
    expect((await ack).code).toBe(409);
  });

  it("records a refusal whose code is not an integer status as 500, keeping the handler's code in the message", async () => {
    const c = await connect();
    const ids = [await submit(), await submit(), await submit()];
    for (const id of ids) await c.submitFor(id);
    c.send({ type: 'negativeAcknowledged', id: ids[0], code: 1.5, message: 'fractional' });
    c.send({ type: 'negativeAcknowledged', id: ids[1], code: 1e12, message: 'huge' });
    c.send({ type: 'negativeAcknowledged', id: ids[2], code: -7, message: 'negative' });
    for (const id of ids) await until(async () => (await row(id)).state === ActionState.Failed);
    for (const id of ids) expect((await row(id)).resultCode).toBe(500);
    expect(JSON.parse((await row(ids[0])).result ?? '')).toEqual({ code: 500, message: 'fractional (handler code 1.5)' });
    expect(await events('action.failed')).toHaveLength(3);
  });

  it('sends configChanged to the connected handlers of the organization when capabilities or applicabilities change', async () => {
    const c = await connect();
    const other = await createHandlerSetup(t.dataSource, t.tree.other.id);
    const stranger = await connect(other.token);
    const changed = c.nextFor('configChanged');
    const res = await request(t.server)
      .post('/api/actions/capabilities')
      .set('X-CyberApp-Auth', t.auth)
      .send({ name: 'RestartService', mandatory_parameters: ['Service'] })
      .expect(201);
    expect(await changed).toEqual({ type: 'configChanged' });
    const again = c.nextFor('configChanged');
    await request(t.server)
      .post('/api/actions/applicabilities')
      .set('X-CyberApp-Auth', t.auth)
      .send({ handler_id: t.setup.handler.id, capability_id: (res.body as { id: string }).id })
      .expect(201);
    await again;
    await sleep(200);
    expect(stranger.frames.filter((f) => f.type === 'configChanged')).toHaveLength(0);
  });

  it('expires an action nobody answered, records action.expired, and tells a late result it was discarded', async () => {
    const c = await connect();
    const id = await submit({ timeout_ms: 1000 });
    await c.submitFor(id);
    c.ack(id);
    await until(async () => (await row(id)).state === ActionState.Expired, 5000);
    const expired = await events('action.expired');
    expect(expired).toHaveLength(1);
    expect(expired[0].data).toMatchObject({ action_id: id, last_state: 'acknowledged' });
    const ack = c.nextFor('acknowledged', id);
    c.result(id);
    expect((await ack).code).toBe(410);
    expect((await row(id)).result).toBeNull();
  });
});

describe('action channel shutdown', () => {
  it('closes handler connections with 1001 so that the app closes promptly', async () => {
    const t = await createActionTestApp();
    const c = await ActionWsClient.connect(t.port, t.setup.token);
    const started = Date.now();
    await t.close();
    expect(await c.closed).toBe(1001);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('action channel heartbeats', () => {
  it('terminates a connection that does not answer pings', async () => {
    const t = await createActionTestApp({ ACTIONS_PING_INTERVAL_MS: '1000' });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${t.port}/api/action-ws/1.0`, ['action-1.0.0', `token-${t.setup.token}`], { autoPong: false });
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      await new Promise((resolve) => ws.once('open', resolve));
      const started = Date.now();
      expect(await closed).toBe(1006);
      expect(Date.now() - started).toBeLessThan(4000);

      const ok = await ActionWsClient.connect(t.port, t.setup.token);
      await sleep(2500);
      expect(ok.ws.readyState).toBe(WebSocket.OPEN);
      await ok.close();
    } finally {
      await t.close();
    }
  });
});

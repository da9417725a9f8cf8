import request from 'supertest';
import WebSocket from 'ws';
import { Action, ActionState } from '../../src/actions/action.entity';
import { DomainEvent } from '../../src/events/event.entity';
import { sleep } from '../process/service-process';
import { ActionTestApp, createActionTestApp } from './action-test-app';

jest.setTimeout(60_000);

/** The smallest ACTIONS_MAX_RESULT_BYTES the config takes: boundaries are cheap to build. */
const MAX_RESULT_BYTES = 1024;

type Frame = Record<string, unknown>;

/**
 * A handler written from the protocol text alone (docs/protocols.md, action channel), not from the gateway's code: the
 * subprotocols, the frames and their fields are spelled out here as the protocol shows them, and
 * `sendActionResult` carries its `result` as a JSON object, as the protocol's example does.
 */
class ProtocolTextHandler {
  readonly frames: Frame[] = [];
  private readonly waiters: Array<{ match: (f: Frame) => boolean; done: (f: Frame) => void }> = [];

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData) => {
      const frame = JSON.parse((data as Buffer).toString('utf8')) as Frame;
      this.frames.push(frame);
      for (const w of [...this.waiters]) {
        if (w.match(frame)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.done(frame);
        }
      }
    });
  }

  static async connect(port: number, token: string): Promise<ProtocolTextHandler> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/action-ws/1.0`, ['action-1.0.0', `token-${token}`]);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new ProtocolTextHandler(ws);
  }

  /** The first frame, received or coming, that matches. */
  next(match: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`)), timeoutMs);
      this.waiters.push({ match, done: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  /** Waits for the submitAction of `id`, acknowledges it, sends `result` as given, and resolves with the gateway's answer to it. */
  async answer(id: string, result: unknown): Promise<Frame> {
    await this.next((f) => f.type === 'submitAction' && f.id === id);
    this.ws.send(JSON.stringify({ type: 'acknowledged', id, code: 200, message: 'submitAction acknowledged' }));
    const from = this.frames.length;
    const answered = this.next((f) => (f.type === 'acknowledged' || f.type === 'negativeAcknowledged') && f.id === id && this.frames.indexOf(f) >= from);
    this.ws.send(JSON.stringify({ type: 'sendActionResult', id, result }));
    return answered;
  }

  close(): void {
    this.ws.terminate();
  }
}

describe('sendActionResult: the result as a JSON object (the protocol text) or as a string holding it (the reference clients)', () => {
  let t: ActionTestApp;
  let handler: ProtocolTextHandler;

  beforeAll(async () => {
    t = await createActionTestApp({ ACTIONS_MAX_RESULT_BYTES: String(MAX_RESULT_BYTES) });
    handler = await ProtocolTextHandler.connect(t.port, t.setup.token);
  });
  afterAll(async () => {
    handler?.close();
    await t?.close();
  });

  const submit = async (): Promise<string> => {
    const res = await request(t.server)
      .post('/api/actions')
      .set('X-CyberApp-Auth', t.auth)
      .send({ capability: 'ExecuteCommand', parameters: { Command: 'uptime', Host: 'srv1' }, timeout_ms: 60_000 })
      .expect(201);
    return (res.body as { id: string }).id;
  };
  const row = (id: string): Promise<Action> => t.dataSource.manager.findOneOrFail(Action, { where: { id } });
  /** The row once the handler's ack is committed: a nack needs no write, so it may come back first. */
  const acknowledged = async (id: string): Promise<Action> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const action = await row(id);
      if (action.state !== ActionState.Sent || Date.now() > deadline) return action;
      await sleep(20);
    }
  };
  const view = async (id: string): Promise<Frame> => (await request(t.server).get(`/api/actions/${id}`).set('X-CyberApp-Auth', t.auth).expect(200)).body as Frame;
  const completedEvent = async (id: string): Promise<DomainEvent> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const events = await t.dataSource.manager.find(DomainEvent, { where: { type: 'action.completed' } });
      const event = events.find((e) => (e.data as { action_id?: string }).action_id === id);
      if (event) return event;
      if (Date.now() > deadline) throw new Error(`no action.completed for ${id}`);
      await sleep(50);
    }
  };
  /** A result whose JSON text is exactly `bytes` long. */
  const resultOfSize = (bytes: number): Frame => {
    const result = { message: 'Action successful', code: 200, data: '' };
    result.data = 'x'.repeat(bytes - JSON.stringify(result).length);
    return result;
  };

  it('completes an action whose handler sends the result as an object, exactly as the protocol text shows it', async () => {
    const id = await submit();
    const answer = await handler.answer(id, { message: 'Action successful', code: 200, data: ' 12:00 up 1 day' });
    expect(answer).toEqual({ type: 'acknowledged', id, code: 200, message: expect.any(String) });

    const stored = await row(id);
    expect(stored).toMatchObject({ state: ActionState.Completed, resultCode: 200 });
    expect(stored.result).toBe('{"message":"Action successful","code":200,"data":" 12:00 up 1 day"}');
    expect(await view(id)).toMatchObject({ id, state: 'completed', result_code: 200, result: { message: 'Action successful', code: 200, data: ' 12:00 up 1 day' } });
  });

  it('stores an object result and the same result as a string alike: the same text, the same API view, the same event', async () => {
    // Structured data, non-ASCII text and characters JSON escapes: what a real result may hold.
    const result = { message: 'Action successful', code: 200, data: { host: 'srv1', lines: ['übersicht', 'tab\there', 'quote " and \\'], exit: 0, empty: null } };
    const asObject = await submit();
    const asString = await submit();
    expect((await handler.answer(asObject, result)).code).toBe(200);
    expect((await handler.answer(asString, JSON.stringify(result))).code).toBe(200);

    const [fromObject, fromString] = [await row(asObject), await row(asString)];
    expect(fromObject.result).toBe(JSON.stringify(result));
    expect(fromString.result).toBe(fromObject.result);
    expect(fromString.resultCode).toBe(fromObject.resultCode);

    const strip = (v: Frame): Frame => ({ result: v.result, result_code: v.result_code, state: v.state });
    const [objectView, stringView] = [await view(asObject), await view(asString)];
    expect(objectView.result).toEqual(result);
    expect(strip(stringView)).toEqual(strip(objectView));

    const [objectEvent, stringEvent] = [await completedEvent(asObject), await completedEvent(asString)];
    expect((objectEvent.data as Frame).result).toEqual(result);
    expect((stringEvent.data as Frame).result).toEqual((objectEvent.data as Frame).result);
  });

  it.each([
    ['as an object', (r: Frame): unknown => r],
    ['as a string', (r: Frame): unknown => JSON.stringify(r)],
  ])('takes a result %s whose stored JSON is exactly ACTIONS_MAX_RESULT_BYTES and nacks one byte more with 413', async (_form, encode) => {
    const over = await submit();
    const nack = await handler.answer(over, encode(resultOfSize(MAX_RESULT_BYTES + 1)));
    expect(nack).toEqual({ type: 'negativeAcknowledged', id: over, code: 413, message: expect.any(String) });
    expect(await acknowledged(over)).toMatchObject({ state: ActionState.Acknowledged, result: null });

    const exact = await submit();
    expect((await handler.answer(exact, encode(resultOfSize(MAX_RESULT_BYTES)))).code).toBe(200);
    const stored = await row(exact);
    expect(stored.state).toBe(ActionState.Completed);
    expect(Buffer.byteLength(stored.result ?? '')).toBe(MAX_RESULT_BYTES);
  });

  it('measures an object result by its bytes, not its characters', async () => {
    const id = await submit();
    // 500 two-byte characters: under the limit in characters, over it in bytes.
    const nack = await handler.answer(id, { message: 'é'.repeat(500), code: 200 });
    expect(nack).toMatchObject({ type: 'negativeAcknowledged', code: 413 });
  });

  it.each([
    ['an object without a code', { message: 'ok' }],
    ['an object whose code is a string', { message: 'ok', code: '200' }],
    ['an object whose message is not a string', { message: 5, code: 200 }],
    ['an array', [{ message: 'ok', code: 200 }]],
    ['a number', 200],
    ['null', null],
  ])('nacks %s as a result with 400 and leaves the action open', async (_name, result) => {
    const id = await submit();
    const nack = await handler.answer(id, result);
    expect(nack).toEqual({ type: 'negativeAcknowledged', id, code: 400, message: expect.any(String) });
    expect(await acknowledged(id)).toMatchObject({ state: ActionState.Acknowledged, result: null });
  });
});

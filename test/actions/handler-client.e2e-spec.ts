import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { ACTION_PROTOCOL } from '../../src/actions/action-frames';
import { ActionCommandRunner } from '../../src/actions/action-command-runner';
import { ActionHandlerClient } from '../../src/actions/action-handler-client';
import { HandlerLedger } from '../../src/actions/action-handler-ledger';
import { sleep } from '../process/service-process';

jest.setTimeout(30_000);

/** The handler client against a bare WebSocket server standing in for the gateway. */
describe('action handler client', () => {
  let server: WebSocketServer;
  let port: number;
  let client: ActionHandlerClient | null = null;
  const connections: WebSocket[] = [];
  const frames: Array<Record<string, unknown>> = [];

  beforeEach(async () => {
    connections.length = 0;
    frames.length = 0;
    server = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has(ACTION_PROTOCOL) ? ACTION_PROTOCOL : false) });
    server.on('connection', (ws) => {
      connections.push(ws);
      ws.on('message', (data: WebSocket.RawData) => frames.push(JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>));
    });
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    await client?.stop();
    client = null;
    for (const ws of connections) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  const start = (runner: ActionCommandRunner, options: { heartbeatMs?: number } = {}): ActionHandlerClient => {
    const ledger = new HandlerLedger(join(mkdtempSync(join(tmpdir(), 'action-client-')), 'ledger.json'));
    client = new ActionHandlerClient({ url: `ws://127.0.0.1:${port}`, token: 'ahk_test', ledger, runner, reconnectDelay: () => 0, log: () => undefined, ...options });
    client.start();
    return client;
  };
  const until = async (check: () => boolean, timeoutMs: number, what: string): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
      await sleep(20);
    }
  };

  it('drops a connection that answers no ping and connects again', async () => {
    start(new ActionCommandRunner({}, 1000), { heartbeatMs: 200 });
    await until(() => connections.length === 1, 5_000, 'first connection');
    // The gateway's end goes silent (as a connection a NAT forgot): it reads nothing, so it answers no ping.
    (connections[0] as unknown as { _socket: { pause(): void } })._socket.pause();
    await until(() => connections.length === 2, 5_000, 'a second connection');
  });

  it('answers a 413 for its result with a small failure result instead of resending what the gateway refuses', async () => {
    const big = 'x'.repeat(100_000);
    start({ run: () => Promise.resolve({ code: 200, message: 'Action successful', data: big }) } as unknown as ActionCommandRunner);
    await until(() => connections.length === 1, 5_000, 'connection');
    connections[0].send(JSON.stringify({ type: 'submitAction', id: 'big', handler: 'h', capability: 'X', parameters: {}, timeout: 60_000 }));
    const results = (): Array<Record<string, unknown>> => frames.filter((f) => f.type === 'sendActionResult');
    await until(() => results().length === 1, 5_000, 'the result');
    connections[0].send(JSON.stringify({ type: 'negativeAcknowledged', id: 'big', code: 413, message: 'result is larger than 65536 bytes.' }));
    await until(() => results().length === 2, 5_000, 'the replacement');
    const replacement = JSON.parse(results()[1].result as string) as { code: number; message: string; data: string };
    expect(replacement.code).toBe(500);
    expect(replacement.message).toContain('larger than the gateway takes');
    expect(replacement.data.length).toBeLessThanOrEqual(128);
    expect(Buffer.byteLength(results()[1].result as string)).toBeLessThan(1024);
  });

  it('replaces a result whose frame the gateway closed the connection on (1009, too big) and sends the small one after reconnecting', async () => {
    const big = 'x'.repeat(100_000);
    start({ run: () => Promise.resolve({ code: 200, message: 'Action successful', data: big }) } as unknown as ActionCommandRunner);
    await until(() => connections.length === 1, 5_000, 'connection');
    connections[0].send(JSON.stringify({ type: 'submitAction', id: 'huge', handler: 'h', capability: 'X', parameters: {}, timeout: 60_000 }));
    const results = (): Array<Record<string, unknown>> => frames.filter((f) => f.type === 'sendActionResult');
    await until(() => results().length === 1, 5_000, 'the result');
    connections[0].close(1009, 'Max payload size exceeded');
    await until(() => results().length === 2, 5_000, 'the replacement after the reconnect');
    expect(connections).toHaveLength(2);
    const replacement = JSON.parse(results()[1].result as string) as { code: number; message: string };
    expect(replacement).toMatchObject({ code: 500, message: expect.stringContaining('larger than the gateway takes') as string });
  });

  it('acknowledges but does not run an action that arrives with no time left', async () => {
    const run = jest.fn(() => Promise.resolve({ code: 200, message: 'ran' }));
    start({ run } as unknown as ActionCommandRunner);
    await until(() => connections.length === 1, 5_000, 'connection');
    connections[0].send(JSON.stringify({ type: 'submitAction', id: 'late', handler: 'h', capability: 'X', parameters: {}, timeout: 0 }));
    await until(() => frames.some((f) => f.type === 'acknowledged' && f.id === 'late'), 5_000, 'the ack');
    await sleep(200);
    expect(run).not.toHaveBeenCalled();
    expect(frames.filter((f) => f.type === 'sendActionResult')).toEqual([]);
  });
});

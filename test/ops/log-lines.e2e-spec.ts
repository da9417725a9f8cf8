import { ConnectorRun, ConnectorRunStatus } from '../../src/connector/connector-run.entity';
import { openDataSource } from '../cli/cli-process';
import { createActionHandler } from '../factories/actions';
import { createItems } from '../factories/connector-items';
import { createTree, mapOrganization, Tree } from '../factories/organizations';
import { ActionWsClient } from '../fakes/action-ws-client';
import { FakeAcronisApi, replies, startFakeAcronisApi } from '../fakes/fake-acronis-api';
import { freePort, httpCall, killAllServices, SERVICE_ENV, ServiceProcess, sleep } from '../process/service-process';
import { connectorEnv } from '../setup/connector-env';
import { createTestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';
import { createTestDatabase, TestDatabase } from '../setup/test-database';

jest.setTimeout(180_000);

type LogLine = Record<string, unknown>;
const INFO = 30;
const WARN = 40;
const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$/;

/**
 * The service's own log lines (pino JSON on stdout) for the events an operator follows: an action
 * handler connecting and leaving (with why), and each connector run's summary.
 */
describe('log lines of the running service', () => {
  let database: TestDatabase;
  let api: FakeAcronisApi;
  let service: ServiceProcess;
  let port: number;
  let tree: Tree;
  const handlers: Record<'closing' | 'revoked' | 'lost' | 'silent' | 'staying', { id: string; token: string }> = {} as never;

  /** The first line matching, waiting for it up to `timeoutMs`. */
  async function line(match: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = service.logLines.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no such log line within ${timeoutMs} ms:\n${service.output}`);
      await sleep(50);
    }
  }

  const left = (handlerId: string) => line((l) => l.event === 'action_handler.left' && l.handlerId === handlerId);

  beforeAll(async () => {
    api = await startFakeAcronisApi();
    database = await createTestDatabase();
    const t = await createTestApp({}, database);
    try {
      tree = await createTree(t.dataSource);
      for (const name of ['closing', 'revoked', 'lost', 'silent', 'staying'] as const) {
        const { handler, token } = await createActionHandler(t.dataSource, tree.partner.id, `edge-${name}`);
        handlers[name] = { id: handler.id, token };
      }
      // Two items of a mapped customer, one of an unmapped one.
      await mapOrganization(t.dataSource, tree.customers[0].id);
      await createItems(t.dataSource, [{ organizationId: tree.customers[0].id }, { organizationId: tree.customers[0].id }, { organizationId: tree.customers[1].id }]);
    } finally {
      await t.close();
    }
    port = await freePort();
    service = ServiceProcess.start({ ...SERVICE_ENV, ...database.env, ...connectorEnv(api), PORT: String(port), LOG_LEVEL: 'info', ACTIONS_PING_INTERVAL_MS: '1000' });
    await service.waitUntilListening();
  });

  afterAll(async () => {
    await killAllServices();
    await database.drop();
    await api.close();
  });

  it('logs a handler connecting, with its ids, the address it connects from and how many connections it has here', async () => {
    const client = await ActionWsClient.connectTo(`ws://127.0.0.1:${port}`, handlers.closing.token, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    const connected = await line((l) => l.event === 'action_handler.connected' && l.handlerId === handlers.closing.id);
    expect(connected).toMatchObject({
      level: INFO,
      context: 'ActionChannelService',
      handlerName: 'edge-closing',
      organizationId: tree.partner.id,
      address: expect.stringMatching(LOOPBACK),
      forwardedFor: '203.0.113.7',
      connections: 1,
      msg: expect.stringMatching(new RegExp(`^action handler ${handlers.closing.id} \\(edge-closing, organization ${tree.partner.id}\\) connected from (::ffff:)?127\\.0\\.0\\.1$`)),
    });

    client.ws.close(1000, 'maintenance window');
    expect(await left(handlers.closing.id)).toMatchObject({
      level: INFO,
      handlerName: 'edge-closing',
      organizationId: tree.partner.id,
      address: expect.stringMatching(LOOPBACK),
      reason: 'closed by the handler',
      code: 1000,
      closeReason: 'maintenance window',
      connections: 0,
      msg: expect.stringMatching(/ left: closed by the handler \(code 1000 "maintenance window"\)$/),
    });
  });

  it('logs a handler whose token is revoked as leaving for that reason', async () => {
    const client = await ActionWsClient.connect(port, handlers.revoked.token);
    await line((l) => l.event === 'action_handler.connected' && l.handlerId === handlers.revoked.id);
    const res = await httpCall(port, { method: 'POST', path: `/api/actions/handlers/${handlers.revoked.id}/revoke`, headers: { 'x-cyberapp-auth': cyberAppAuth('partner', tree.password) } });
    expect(res.status).toBe(200);
    await client.closed;
    expect(await left(handlers.revoked.id)).toMatchObject({ level: INFO, reason: 'token revoked', code: 1008, organizationId: tree.partner.id });
  });

  it('logs a connection dropped without a close frame, and one that stopped answering pings, as lost (warn)', async () => {
    const lost = await ActionWsClient.connect(port, handlers.lost.token);
    await line((l) => l.event === 'action_handler.connected' && l.handlerId === handlers.lost.id);
    lost.ws.terminate();
    expect(await left(handlers.lost.id)).toMatchObject({ level: WARN, reason: 'connection lost (no close frame)', code: 1006 });

    await ActionWsClient.connectTo(`ws://127.0.0.1:${port}`, handlers.silent.token, { autoPong: false });
    expect(await left(handlers.silent.id)).toMatchObject({ level: WARN, reason: 'missed a pong', handlerName: 'edge-silent' });
  });

  it('logs one summary line per connector run: its id, what it sent, failed and left for later, and how long it took', async () => {
    api.enqueue('pushes', replies.json(422, { error: 'unprocessable' }));
    const res = await httpCall(port, {
      path: '/api/connector/items',
      headers: { 'x-cyberapp-auth': cyberAppAuth('partner', tree.password) },
      body: {
        organization_id: tree.customers[0].id,
        send_now: true,
        items: [{ idempotency_key: 'k-1', kind: 'alert', alert: { type: 't', category: 'c', details: { title: 'x', category: 'y', description: 'z' } } }],
      },
    });
    expect(res.status).toBe(202);

    const summary = await line((l) => l.event === 'connector.run.finished');
    expect(summary).toMatchObject({
      level: INFO,
      context: 'ConnectorRunner',
      runId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      trigger: 'api',
      status: 'completed',
      sent: 2,
      failed: 1,
      skipped: 1,
      retrying: 0,
      unmapped: 1,
      durationMs: expect.any(Number),
    });
    expect(summary.msg).toBe(`connector run ${String(summary.runId)} completed: 2 sent, 1 failed, 1 skipped (0 retrying, 1 unmapped) in ${String(summary.durationMs)} ms`);
    const ds = await openDataSource(database);
    try {
      const run = await ds.getRepository(ConnectorRun).findOneByOrFail({ id: String(summary.runId) });
      expect(run).toMatchObject({ status: ConnectorRunStatus.Completed, sent: 2, failed: 1, skipped: 1 });
      expect(summary.durationMs).toBe((run.finishedAt as Date).getTime() - run.startedAt.getTime());
    } finally {
      await ds.destroy();
    }
  });

  it('logs the handlers still connected at shutdown as leaving because the gateway stops', async () => {
    await ActionWsClient.connect(port, handlers.staying.token);
    await line((l) => l.event === 'action_handler.connected' && l.handlerId === handlers.staying.id);
    service.child.kill('SIGTERM');
    expect(await service.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    expect(await left(handlers.staying.id)).toMatchObject({ level: INFO, reason: 'gateway shutting down', code: 1001 });
  });
});

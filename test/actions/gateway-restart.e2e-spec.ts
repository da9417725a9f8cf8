import type { DataSource } from 'typeorm';
import { Action, ActionState } from '../../src/actions/action.entity';
import { DomainEvent } from '../../src/events/event.entity';
import { openDataSource } from '../cli/cli-process';
import { createHandlerSetup, HandlerSetup } from '../factories/actions';
import { createTree, Tree } from '../factories/organizations';
import { ActionHandlerProcess, handlerWorkspace } from '../fakes/action-handler-process';
import { freePort, httpCall, killAllServices, SERVICE_ENV, ServiceProcess, sleep } from '../process/service-process';
import { createTestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';
import { createTestDatabase, TestDatabase } from '../setup/test-database';

jest.setTimeout(240_000);

describe('gateway killed with actions in flight, then started again', () => {
  let database: TestDatabase;
  let tree: Tree;
  let setup: HandlerSetup;
  let ds: DataSource | undefined;
  let handler: ActionHandlerProcess | undefined;
  const ws = handlerWorkspace();

  beforeAll(async () => {
    database = await createTestDatabase();
    const t = await createTestApp({}, database);
    try {
      tree = await createTree(t.dataSource);
      setup = await createHandlerSetup(t.dataSource, tree.partner.id);
    } finally {
      await t.close();
    }
  });

  afterAll(async () => {
    await handler?.kill();
    await killAllServices();
    await ds?.destroy();
    await database.drop();
  });

  it('completes every action exactly once: results finished while the gateway was down are delivered after it returns', async () => {
    const port = await freePort();
    const env = { ...SERVICE_ENV, ...database.env, PORT: String(port), LOG_LEVEL: 'warn', ACTIONS_POLL_MS: '100' };
    const auth = cyberAppAuth('partner', tree.password);
    const submit = async (seconds: string): Promise<string> => {
      const res = await httpCall(port, {
        method: 'POST',
        path: '/api/actions',
        headers: { 'x-cyberapp-auth': auth },
        body: { capability: 'ExecuteCommand', parameters: { Command: seconds }, timeout_ms: 120_000 },
      });
      expect(res.status).toBe(201);
      return (JSON.parse(res.body) as { id: string }).id;
    };

    const gateway = ServiceProcess.start(env);
    await gateway.waitUntilListening();
    handler = ActionHandlerProcess.start(
      ['--url', `ws://127.0.0.1:${port}`, '--ledger', ws.ledger, '--map', `ExecuteCommand=/bin/sh ${ws.script} {id} {Command}`, '--backoff-scale', '0.05'],
      { ACTION_HANDLER_TOKEN: setup.token },
    );
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await submit(i % 3 === 0 ? '0' : '2'));
    // Every action reached the handler; the slow ones are still running when the gateway dies.
    const deadline = Date.now() + 60_000;
    while (!ids.every((id) => ws.effectLines().includes(id))) {
      if (Date.now() > deadline) throw new Error(`not all actions started:\n${handler.output}\n${gateway.output}`);
      await sleep(100);
    }
    await gateway.kill();

    const again = ServiceProcess.start(env);
    await again.waitUntilListening();
    for (let i = 0; i < 4; i++) ids.push(await submit('0'));

    ds = await openDataSource(database);
    const until = Date.now() + 90_000;
    for (;;) {
      const rows = await ds.manager.find(Action);
      if (rows.length === ids.length && rows.every((r) => r.state === ActionState.Completed)) break;
      if (Date.now() > until) throw new Error(`not all completed: ${JSON.stringify(rows.map((r) => r.state))}\n${handler.output}`);
      await sleep(200);
    }
    await sleep(1000);

    const rows = await ds.manager.find(Action);
    expect(rows.map((r) => r.resultCode)).toEqual(ids.map(() => 200));
    const effects = ws.effectLines();
    for (const id of ids) expect(effects.filter((e) => e === id)).toHaveLength(1);
    expect(await ds.manager.count(DomainEvent, { where: { type: 'action.completed' } })).toBe(ids.length);
    await again.kill();
  });
});

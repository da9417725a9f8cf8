import { existsSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { Action, ActionState } from '../../src/actions/action.entity';
import { DomainEvent } from '../../src/events/event.entity';
import { ActionHandlerProcess, handlerWorkspace } from '../fakes/action-handler-process';
import { sleep } from '../process/service-process';
import { ActionTestApp, createActionTestApp } from './action-test-app';

jest.setTimeout(120_000);

describe('action handler CLI', () => {
  let t: ActionTestApp;
  let ws: ReturnType<typeof handlerWorkspace>;
  const handlers: ActionHandlerProcess[] = [];

  const startHandler = (extra: string[] = []): ActionHandlerProcess => {
    const p = ActionHandlerProcess.start(
      ['--url', `ws://127.0.0.1:${t.port}`, '--ledger', ws.ledger, '--map', `ExecuteCommand=/bin/sh ${ws.script} {id} {Command}`, '--backoff-scale', '0.05', ...extra],
      { ACTION_HANDLER_TOKEN: t.setup.token },
    );
    handlers.push(p);
    return p;
  };
  const submit = async (seconds: string): Promise<string> => {
    const res = await request(t.server)
      .post('/api/actions')
      .set('X-CyberApp-Auth', t.auth)
      .send({ capability: 'ExecuteCommand', parameters: { Command: seconds }, timeout_ms: 90_000 })
      .expect(201);
    return (res.body as { id: string }).id;
  };
  const rows = (): Promise<Action[]> => t.dataSource.manager.find(Action);
  const until = async (check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
      await sleep(100);
    }
  };

  beforeEach(async () => {
    t = await createActionTestApp();
    ws = handlerWorkspace();
  });
  afterEach(async () => {
    await Promise.all(handlers.splice(0).map((h) => h.kill()));
    await t.close();
  });

  it('runs an action as a local command (argument array, no shell) and reports its output', async () => {
    startHandler();
    const id = await submit('0');
    await until(async () => (await rows())[0]?.state === ActionState.Completed, 30_000, 'completion');
    const [row] = await rows();
    expect(JSON.parse(row.result ?? '')).toEqual({ code: 200, message: 'Action successful', data: `done ${id}\n` });
    expect(ws.effectLines()).toEqual([id]);
  });

  it('never hands parameters to a shell', async () => {
    startHandler();
    const pwned = join(ws.dir, 'pwned');
    await submit(`0; touch ${pwned} $(touch ${pwned})`);
    await until(async () => (await rows())[0]?.state === ActionState.Completed, 30_000, 'completion');
    expect(existsSync(pwned)).toBe(false);
  });

  it('reports a failing command as a 500 result with its exit code and stderr', async () => {
    startHandler();
    await submit('not-a-number');
    await until(async () => (await rows())[0]?.state === ActionState.Completed, 30_000, 'completion');
    const [row] = await rows();
    expect(row.resultCode).toBe(500);
    expect(JSON.parse(row.result ?? '')).toMatchObject({ code: 500, message: expect.stringMatching(/^exit code 1: .*sleep/) });
  });

  it('killed with SIGKILL mid-action and restarted: every action completes exactly once, none runs twice', async () => {
    const first = startHandler();
    const quick = await submit('0');
    await until(async () => (await rows()).find((r) => r.id === quick)?.state === ActionState.Completed, 30_000, 'first action');
    const slow = [await submit('3'), await submit('3'), await submit('3')];
    await until(() => slow.every((id) => ws.effectLines().includes(id)), 30_000, 'slow actions started');
    await first.kill('SIGKILL');
    // Submitted while no handler is connected: they must run once the handler is back.
    const later = [await submit('0'), await submit('0')];

    startHandler();
    await until(async () => (await rows()).every((r) => r.state === ActionState.Completed), 60_000, 'all actions completed');
    await sleep(4000); // long enough for a wrongly re-run slow command to have left its mark

    const all = await rows();
    expect(all).toHaveLength(6);
    const effects = ws.effectLines();
    for (const id of [quick, ...slow, ...later]) expect(effects.filter((e) => e === id)).toHaveLength(1);
    for (const id of slow) {
      const row = all.find((r) => r.id === id);
      expect(JSON.parse(row?.result ?? '')).toMatchObject({ code: 500, message: expect.stringContaining('interrupted') });
    }
    for (const id of [quick, ...later]) expect(all.find((r) => r.id === id)?.resultCode).toBe(200);
    expect(await t.dataSource.manager.count(DomainEvent, { where: { type: 'action.completed' } })).toBe(6);
  });

  it('fails to start without a ledger, token or mapping, saying why', async () => {
    const p = ActionHandlerProcess.start(['--url', `ws://127.0.0.1:${t.port}`, '--map', 'X=/bin/true'], { ACTION_HANDLER_TOKEN: t.setup.token });
    handlers.push(p);
    expect(await p.exited).toBe(1);
    expect(p.output).toContain('--ledger');
  });
});

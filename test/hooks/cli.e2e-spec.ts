import { ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { HookOperation, HookPhase } from '../../src/hooks/hook-operation';
import { ROOT_DIR, runCli } from '../cli/cli-process';
import { createHook } from '../factories/hooks';
import { createOrganization } from '../factories/organizations';
import { createTestApp, TEST_ENV } from '../setup/create-test-app';
import { createTestDatabase, TestDatabase } from '../setup/test-database';

jest.setTimeout(120_000);

interface Mock {
  child: ChildProcess;
  url: string;
  output(): string;
}

/** `hooks mock` in its own process, as an operator runs it; resolves once it listens. */
async function startMock(database: TestDatabase, args: string[]): Promise<Mock> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/cli/cli.ts', 'hooks', 'mock', '--port', '0', ...args], {
    cwd: ROOT_DIR,
    env: { ...process.env, ...TEST_ENV, ...database.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const match = /listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    if (match) return { child, url: match[1], output: () => out };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`hooks mock did not start:\n${out}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function until<T>(read: () => T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function post(url: string, event: string, body: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-cs-event': event } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('hooks CLI', () => {
  let database: TestDatabase;
  let organizationId: string;
  let mock: Mock;

  beforeAll(async () => {
    database = await createTestDatabase();
    const t = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false' }, database);
    try {
      organizationId = (await createOrganization(t.dataSource)).id;
    } finally {
      await t.close();
    }
    mock = await startMock(database, ['--reject-operation', 'user.delete', '--reject-if-input-contains', 'forbidden']);
    const t2 = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false' }, database);
    try {
      await createHook(t2.dataSource, {
        organizationId,
        url: `${mock.url}hook`,
        operations: [HookOperation.UserCreate, HookOperation.UserDelete],
        phase: HookPhase.Both,
      });
    } finally {
      await t2.close();
    }
  });
  afterAll(async () => {
    if (mock && mock.child.exitCode === null) mock.child.kill('SIGKILL');
    await database?.drop();
  });

  it('hooks mock approves pre-hooks with a work_id, rejects by rule, answers post-hooks {} and prints each hook', async () => {
    const approved = await post(mock.url, 'pre.user.create', { operation: 'user.create', input: { login: 'a' } });
    expect(approved).toEqual({ status: 200, json: { approved: true, work_id: expect.stringMatching(/^mock-/) } });
    expect(await post(mock.url, 'pre.user.delete', { operation: 'user.delete', input: { id: 'x' } })).toEqual({
      status: 200,
      json: { approved: false, reason: 'hooks mock rejects user.delete' },
    });
    expect(await post(mock.url, 'pre.user.update', { operation: 'user.update', input: { name: 'forbidden name' } })).toEqual({
      status: 200,
      json: { approved: false, reason: 'hooks mock rejects input containing "forbidden"' },
    });
    expect(await post(mock.url, 'post.user.create', { operation: 'user.create', outcome: 'succeeded' })).toEqual({ status: 200, json: {} });
    // The mock's stdout reaches this process through a pipe, possibly after its HTTP answers.
    const lines = await until(() => mock.output().split('\n').filter((l) => l.startsWith('{')), (l) => l.length >= 4);
    expect(lines.map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['pre.user.create', 'pre.user.delete', 'pre.user.update', 'post.user.create']);
  });

  it('hooks test calls the pre-hooks of an operation and prints the decisions (exit 0 approved, 1 rejected)', async () => {
    const env = { WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8' };
    const ok = await runCli(database, ['hooks', 'test', 'user.create', '{"login":"jane"}', '--organization', organizationId], env);
    expect(ok.code).toBe(0);
    const printed = JSON.parse(ok.stdout) as { approved: boolean; decisions: Array<Record<string, unknown>> };
    expect(printed.approved).toBe(true);
    expect(printed.decisions).toHaveLength(1);
    expect(printed.decisions[0]).toMatchObject({ operation: 'user.create', outcome: 'approved', auth_id: 'cli', work_id: expect.stringMatching(/^mock-/) });

    const no = await runCli(database, ['hooks', 'test', 'user.delete', '{"id":"42"}', '--organization', organizationId], env);
    expect(no.code).toBe(1);
    expect(no.stderr).toContain('rejected: hooks mock rejects user.delete');
    expect(await until(() => mock.output(), (out) => out.includes('"input":{"login":"jane"}'))).toContain('"input":{"login":"jane"}');
  });

  it('hooks test refuses an unknown operation, bad JSON or a missing organization', async () => {
    const bad = await Promise.all([
      runCli(database, ['hooks', 'test', 'user.explode', '{}', '--organization', organizationId]),
      runCli(database, ['hooks', 'test', 'user.create', '{not json', '--organization', organizationId]),
      runCli(database, ['hooks', 'test', 'user.create', '{}']),
    ]);
    expect(bad.map((r) => r.code)).toEqual([1, 1, 1]);
    expect(bad[0].stderr).toContain('<operation> must be one of');
    expect(bad[1].stderr).toContain('not valid JSON');
    expect(bad[2].stderr).toContain('--organization <id> is required');
  });

  it('hooks mock stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => mock.child.on('close', (code) => resolve(code)));
    mock.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

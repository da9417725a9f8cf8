import { ChildProcess, spawn } from 'node:child_process';
import { ConnectorItem, ConnectorItemKind, ConnectorItemState } from '../../src/connector/connector-item.entity';
import { ConnectorRun, ConnectorRunStatus } from '../../src/connector/connector-run.entity';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { openDataSource, ROOT_DIR, runProcess } from '../cli/cli-process';
import { createItems, markerOf } from '../factories/connector-items';
import { createOrganization, mapOrganization } from '../factories/organizations';
import { FakeAcronisApi, startFakeAcronisApi } from '../fakes/fake-acronis-api';
import { connectorEnv } from '../setup/connector-env';
import { createTestApp, TEST_ENV } from '../setup/create-test-app';
import { createTestDatabase, TestDatabase } from '../setup/test-database';

const ITEMS = 200;
const CONCURRENCY = 8;
const CLI = ['-r', 'ts-node/register/transpile-only', 'src/cli/cli.ts', 'connector', 'run'];

jest.setTimeout(180_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `npm run connector:run` as a child process we can kill. */
function startCli(env: Record<string, string>, args: string[] = []): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT_DIR, env: { ...process.env, ...TEST_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('connector run killed part-way and run again', () => {
  let api: FakeAcronisApi;
  let database: TestDatabase;
  let ids: string[];

  beforeAll(async () => {
    api = await startFakeAcronisApi({ serviceTimeMs: 20 });
    database = await createTestDatabase();
    // Schema and data through the app, which is then closed: the children have the database to themselves.
    const t = await createTestApp({}, database);
    try {
      const items = [];
      for (let i = 0; i < 4; i++) {
        const customer = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer });
        await mapOrganization(t.dataSource, customer.id);
        for (let n = 0; n < ITEMS / 4; n++) {
          items.push({ organizationId: customer.id, kind: n % 4 === 3 ? ConnectorItemKind.Workload : ConnectorItemKind.Alert });
        }
      }
      ids = (await createItems(t.dataSource, items)).map((item) => item.id);
    } finally {
      await t.close();
    }
  });
  afterAll(async () => {
    await database.drop();
    await api.close();
  });

  it('loses nothing and repeats at most the pushes that were in flight at the kill', async () => {
    const env = { ...database.env, ...connectorEnv(api, { CONNECTOR_CONCURRENCY: String(CONCURRENCY), CONNECTOR_REQUEST_TIMEOUT_MS: '1000', CONNECTOR_LEASE_SECONDS: '5' }) };
    const pushed = () => api.alerts.length + api.workloads.length;

    const first = startCli(env);
    const deadline = Date.now() + 90_000;
    while (pushed() < 60) {
      if (Date.now() > deadline) throw new Error(`no pushes within 90 s:\n${first.output()}`);
      await sleep(2);
    }
    first.child.kill('SIGKILL');
    await first.exited;
    const pushedAtKill = pushed();

    const ds = await openDataSource(database);
    let claimedAtKill: number;
    let sentAtKill: number;
    let recorded: Set<string>;
    try {
      const repo = ds.getRepository(ConnectorItem);
      claimedAtKill = await repo.countBy({ state: ConnectorItemState.Sending });
      const sent = await repo.findBy({ state: ConnectorItemState.Sent });
      sentAtKill = sent.length;
      recorded = new Set(sent.map((item) => item.id));
    } finally {
      await ds.destroy();
    }
    // In flight at the kill: pushed, but the outcome not recorded. Claimed items still queued in
    // the runner (up to another CONCURRENCY) were never pushed.
    const inFlightAtKill = new Set([...api.alerts, ...api.workloads].map((p) => markerOf(p.body) ?? '').filter((id) => !recorded.has(id))).size;
    expect(sentAtKill).toBeLessThan(ITEMS);
    expect(inFlightAtKill).toBeLessThanOrEqual(CONCURRENCY);
    expect(claimedAtKill).toBeLessThanOrEqual(2 * CONCURRENCY);

    // The dead runner's lease (5 s) and claims (2 × 4 × 1 s + 2 s) expire on their own; --wait covers the lease.
    const second = await runProcess(process.execPath, [...CLI, '--wait', '30'], env);
    expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: '' });
    expect(second.stdout).toMatch(new RegExp(`completed: ${ITEMS - sentAtKill} sent, 0 failed, 0 skipped`));

    const check = await openDataSource(database);
    try {
      const items = await check.getRepository(ConnectorItem).find();
      expect(items).toHaveLength(ITEMS);
      expect(items.filter((i) => i.state !== ConnectorItemState.Sent)).toEqual([]);
      const runs = await check.getRepository(ConnectorRun).find({ order: { startedAt: 'ASC' } });
      expect(runs.map((r) => r.status)).toEqual([ConnectorRunStatus.Failed, ConnectorRunStatus.Completed]);
      expect(runs[0].error).toMatch(/abandoned/);
      expect(runs[1]).toMatchObject({ trigger: 'cli', sent: ITEMS - sentAtKill });
    } finally {
      await check.destroy();
    }

    // Every item reached the API, and the only repeats are pushes whose outcome the kill lost.
    const created = [...api.created.alerts, ...api.created.workloads].map((p) => markerOf(p.body));
    expect(new Set(created)).toEqual(new Set(ids));
    const times = new Map<string, number>();
    for (const marker of created) times.set(marker ?? '', (times.get(marker ?? '') ?? 0) + 1);
    const duplicates = [...times.values()].filter((n) => n > 1).reduce((sum, n) => sum + n - 1, 0);
    // What was in flight at the kill was looked up (alert by its id, workload by its key) before
    // anything was sent again: no create is repeated.
    expect(duplicates).toBe(0);
    expect(created.length).toBe(ITEMS);
    // And on the platform: one alert per alert item (its derived id), one workload per device key.
    const alertIds = api.store.alerts().map((a) => a.id);
    expect(new Set(alertIds).size).toBe(alertIds.length);
    const workloadKeys = api.store.workloads().map((w) => w.attributes.vendor_key);
    expect(new Set(workloadKeys).size).toBe(workloadKeys.length);
    expect(alertIds.length + workloadKeys.length).toBe(ITEMS);
    expect(api.violations).toEqual([]);
    process.stdout.write(
      `crash (${database.env.DATABASE_URL ? 'postgres' : 'sqlite'}): pushed ${pushedAtKill} before the kill, ${sentAtKill} recorded sent, ` +
        `${claimedAtKill} claimed of which ${inFlightAtKill} in flight; after the restart ${created.length} pushes in all, ${duplicates} duplicates\n`,
    );
  });

  it('refuses to run without Acronis credentials, saying which variables are missing', async () => {
    const outcome = await runProcess(process.execPath, CLI, { ...database.env, ACRONIS_CLIENT_ID: '', ACRONIS_CLIENT_SECRET: '', ACRONIS_DC_URL: '' });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('connector disabled: ACRONIS_CLIENT_ID/ACRONIS_CLIENT_SECRET/ACRONIS_DC_URL missing');
  });
});

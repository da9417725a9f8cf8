import { randomUUID } from 'node:crypto';
import { ConnectorItem, ConnectorItemKind, ConnectorItemState } from '../../src/connector/connector-item.entity';
import { ConnectorRun, ConnectorRunStatus } from '../../src/connector/connector-run.entity';
import { CONNECTOR_LEASE, ConnectorRunner } from '../../src/connector/connector-runner.service';
import { Lease } from '../../src/database/lease.entity';
import { LeaseService } from '../../src/database/lease.service';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { createItems, markerOf } from '../factories/connector-items';
import { createOrganization, mapOrganization } from '../factories/organizations';
import { FakeAcronisApi, startFakeAcronisApi } from '../fakes/fake-acronis-api';
import { connectorEnv } from '../setup/connector-env';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('LeaseService', () => {
  let t: TestApp;
  let leases: LeaseService;

  beforeAll(async () => {
    t = await createTestApp();
    leases = t.app.get(LeaseService);
  });
  afterAll(() => t.close());

  const name = () => `job-${randomUUID().slice(0, 8)}`;

  it('gives a free lease to the first holder, for the time asked', async () => {
    const lease = name();
    const before = Date.now();
    expect(await leases.acquire(lease, 'a', 10_000)).toBe(true);
    const stored = await leases.current(lease);
    expect(stored?.holder).toBe('a');
    expect(stored?.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 10_000);
    expect(stored?.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 10_000);
  });

  it('refuses a lease held by another holder until it expires, then gives it to the next one', async () => {
    const lease = name();
    expect(await leases.acquire(lease, 'a', 1000)).toBe(true);
    const expiresAt = (await leases.current(lease))?.expiresAt.getTime() ?? 0;
    // Less than a second before the expiry: a text comparison of two date formats would get this wrong.
    expect(await leases.acquire(lease, 'b', 10_000)).toBe(false);
    await sleep(Math.max(0, expiresAt - Date.now() + 20));
    expect(await leases.acquire(lease, 'b', 10_000)).toBe(true);
    expect((await leases.current(lease))?.holder).toBe('b');
    expect(await leases.acquire(lease, 'a', 10_000)).toBe(false);
  });

  it('lets the holder take its own lease again, extending it', async () => {
    const lease = name();
    await leases.acquire(lease, 'a', 1000);
    const first = (await leases.current(lease))?.expiresAt.getTime() ?? 0;
    expect(await leases.acquire(lease, 'a', 60_000)).toBe(true);
    expect((await leases.current(lease))?.expiresAt.getTime()).toBeGreaterThan(first + 50_000);
  });

  it('renews for the holder only, and says when the lease was lost', async () => {
    const lease = name();
    await leases.acquire(lease, 'a', 300);
    expect(await leases.renew(lease, 'a', 60_000)).toBe(true);
    expect(await leases.renew(lease, 'b', 60_000)).toBe(false);
    expect((await leases.current(lease))?.holder).toBe('a');
    // Taken over after expiring: the old holder's renewal fails.
    await t.dataSource.getRepository(Lease).update({ name: lease }, { expiresAt: new Date(Date.now() - 1000) });
    expect(await leases.acquire(lease, 'b', 60_000)).toBe(true);
    expect(await leases.renew(lease, 'a', 60_000)).toBe(false);
  });

  it('releases for the holder only, so that another can take it at once', async () => {
    const lease = name();
    await leases.acquire(lease, 'a', 60_000);
    await leases.release(lease, 'b');
    expect((await leases.current(lease))?.holder).toBe('a');
    await leases.release(lease, 'a');
    expect(await leases.current(lease)).toBeNull();
    expect(await leases.acquire(lease, 'b', 60_000)).toBe(true);
  });

  it('gives a lease to exactly one of many holders asking at once', async () => {
    const lease = name();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => leases.acquire(lease, `holder-${i}`, 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await leases.current(lease))?.holder).toBe(`holder-${results.indexOf(true)}`);
  });

  it('stores expiry as the database compares it: UTC text with milliseconds on SQLite, timestamptz on PostgreSQL', async () => {
    const lease = name();
    await leases.acquire(lease, 'a', 5000);
    const stored = await leases.current(lease);
    const [raw] = await t.dataSource.query<Array<{ expires_at: unknown }>>(`SELECT expires_at FROM leases WHERE name = '${lease}'`);
    if (TEST_DB === 'sqlite') {
      // TypeORM binds a Date parameter on better-sqlite3 as this same text (not ISO 8601's "T…Z"),
      // which is why a bound Date compares correctly with the stored column.
      expect(raw.expires_at).toBe(stored?.expiresAt.toISOString().replace('T', ' ').replace('Z', ''));
    } else {
      expect(raw.expires_at).toBeInstanceOf(Date);
      expect((raw.expires_at as Date).getTime()).toBe(stored?.expiresAt.getTime());
    }
  });
});

const onPostgres = TEST_DB === 'postgres' ? describe : describe.skip;

onPostgres('connector lease with two app instances on PostgreSQL', () => {
  let api: FakeAcronisApi;
  let database: TestDatabase;
  let one: TestApp;
  let two: TestApp;

  beforeAll(async () => {
    api = await startFakeAcronisApi();
    database = await createTestDatabase();
    const env = connectorEnv(api, { CONNECTOR_CONCURRENCY: '4', CONNECTOR_LEASE_SECONDS: '5' });
    one = await createTestApp(env, database);
    two = await createTestApp(env, database);
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    await database?.drop();
    await api.close();
  });
  beforeEach(async () => {
    api.reset();
    for (const table of ['connector_items', 'connector_runs', 'events', 'leases']) await one.dataSource.query(`DELETE FROM ${table}`);
  });

  async function queue(count: number): Promise<string[]> {
    const organization = await createOrganization(one.dataSource, { kind: OrganizationKind.Customer });
    await mapOrganization(one.dataSource, organization.id);
    const created = await createItems(
      one.dataSource,
      Array.from({ length: count }, (_, i) => ({ organizationId: organization.id, kind: i % 4 === 0 ? ConnectorItemKind.Workload : ConnectorItemKind.Alert })),
    );
    return created.map((c) => c.id);
  }

  /** Markers pushed and accepted more than once. */
  function duplicates(): string[] {
    const seen = new Map<string, number>();
    for (const push of [...api.created.alerts, ...api.created.workloads]) {
      const marker = markerOf(push.body) ?? '';
      seen.set(marker, (seen.get(marker) ?? 0) + 1);
    }
    return [...seen].filter(([, n]) => n > 1).map(([marker]) => marker);
  }

  it('runs on exactly one instance when both ask at once, and pushes every item once', async () => {
    const ids = await queue(40);
    api.setBehaviour({ serviceTimeMs: 20 });

    const [a, b] = await Promise.all([one.app.get(ConnectorRunner).runOnce('schedule'), two.app.get(ConnectorRunner).runOnce('schedule')]);

    const runs = [a, b].filter((r) => r !== null);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: ConnectorRunStatus.Completed, sent: 40 });
    expect(await one.dataSource.getRepository(ConnectorRun).count()).toBe(1);
    expect(api.alerts.length + api.workloads.length).toBe(40);
    expect(new Set([...api.alerts, ...api.workloads].map((p) => markerOf(p.body)))).toEqual(new Set(ids));
    expect(duplicates()).toEqual([]);
  });

  it('never pushes an item twice even when the lease changes hands in the middle of a run', async () => {
    const ids = await queue(80);
    api.setBehaviour({ serviceTimeMs: 40 });
    const first = one.app.get(ConnectorRunner);
    const second = two.app.get(ConnectorRunner);

    const running = first.runOnce('schedule');
    while (api.alerts.length + api.workloads.length < 8) await sleep(5);
    // As if the first holder had stalled past its lease: the second takes it over while the first still sends.
    await two.dataSource.getRepository(Lease).update({ name: CONNECTOR_LEASE }, { expiresAt: new Date(Date.now() - 1) });
    const takeover = await second.runOnce('schedule');
    const stalled = await running;

    expect(takeover).not.toBeNull();
    expect(stalled).not.toBeNull();
    expect((takeover?.sent ?? 0) + (stalled?.sent ?? 0)).toBe(80);
    expect(takeover?.sent).toBeGreaterThan(0);
    const items = await one.dataSource.getRepository(ConnectorItem).findBy({ state: ConnectorItemState.Sent });
    expect(items.map((i) => i.id).sort()).toEqual([...ids].sort());
    expect(items.every((i) => i.attempts === 1)).toBe(true);
    expect(api.alerts.length + api.workloads.length).toBe(80);
    expect(duplicates()).toEqual([]);
  });
});

import type { EntityManager } from 'typeorm';
import { isUniqueViolation } from '../../src/database/unique-violation';
import { TransactionRunner } from '../../src/database/transaction-runner.service';
import { DomainEvent } from '../../src/events/event.entity';
import { OutboxService } from '../../src/events/outbox.service';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { TEST_DB } from '../setup/test-database';

// Group commit is SQLite's (TransactionRunner queues its transactions on one connection); PostgreSQL
// runs transactions concurrently from its pool, so only the runner's contract is checked there.
const sqliteOnly = TEST_DB === 'sqlite' ? describe : describe.skip;

class Refused extends Error {}

describe('TransactionRunner under concurrent transactions', () => {
  let t: TestApp;
  let transactions: TransactionRunner;
  let groups: number[];
  let stopObserving: () => void;

  beforeAll(async () => {
    // No background workers: their polls would join the groups these tests count.
    t = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false', S3_EVENTS_WORKER_ENABLED: 'false' });
    transactions = t.app.get(TransactionRunner);
    const id = TEST_DB === 'sqlite' ? 'INTEGER PRIMARY KEY' : 'SERIAL PRIMARY KEY';
    await t.dataSource.query(`CREATE TABLE group_probe (id ${id}, v VARCHAR(64) NOT NULL UNIQUE, unit INTEGER NOT NULL)`);
    if (TEST_DB === 'sqlite') {
      await t.dataSource.query('CREATE TABLE group_parent (id INTEGER PRIMARY KEY)');
      await t.dataSource.query('CREATE TABLE group_child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES group_parent (id) DEFERRABLE INITIALLY DEFERRED)');
    }
  });
  afterAll(() => t.close());

  beforeEach(async () => {
    await t.dataSource.query('DELETE FROM group_probe');
    groups = [];
    stopObserving = transactions.observeGroups((size) => groups.push(size));
  });
  afterEach(() => stopObserving());

  const rows = async (): Promise<Array<{ v: string; unit: number }>> =>
    (await t.dataSource.query<Array<{ v: string; unit: number | string }>>('SELECT v, unit FROM group_probe ORDER BY id')).map((r) => ({ v: r.v, unit: Number(r.unit) }));

  const insertProbe = TEST_DB === 'sqlite' ? 'INSERT INTO group_probe (v, unit) VALUES (?, ?)' : 'INSERT INTO group_probe (v, unit) VALUES ($1, $2)';

  /** Unit i writes two rows; every third one then throws, so both must be rolled back. */
  const unit = (i: number) => async (em: EntityManager) => {
    await em.query(insertProbe, [`a${i}`, i]);
    await new Promise((resolve) => setImmediate(resolve));
    await em.query(insertProbe, [`b${i}`, i]);
    if (i % 3 === 0) throw new Refused(`unit ${i} refused`);
    return `unit ${i}`;
  };

  it('commits every transaction that returns, rolls back every one that throws, and answers each caller with its own outcome', async () => {
    const outcomes = await Promise.allSettled(Array.from({ length: 90 }, (_, i) => transactions.run(unit(i))));
    outcomes.forEach((outcome, i) => {
      if (i % 3 === 0) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(Refused);
        expect(((outcome as PromiseRejectedResult).reason as Error).message).toBe(`unit ${i} refused`);
      } else {
        expect(outcome).toEqual({ status: 'fulfilled', value: `unit ${i}` });
      }
    });
    const written = await rows();
    expect(new Set(written.map((r) => r.unit))).toEqual(new Set(Array.from({ length: 90 }, (_, i) => i).filter((i) => i % 3 !== 0)));
    expect(written).toHaveLength(120);
  });

  sqliteOnly('SQLite group commit', () => {
    it('runs the transactions queued meanwhile in groups of at most SQLITE_GROUP_MAX (64), one commit each', async () => {
      await Promise.allSettled(Array.from({ length: 150 }, (_, i) => transactions.run(unit(i))));
      // All 150 were queued in one turn, before the queue took any.
      expect(groups).toEqual([64, 64, 22]);
      expect(await rows()).toHaveLength(200);
    });

    it('runs a transaction asked for on an idle queue alone, in a transaction of its own', async () => {
      expect(await transactions.run(unit(1))).toBe('unit 1');
      expect(groups).toEqual([1]);
    });

    it('runs the transactions of a group one after another, never interleaved', async () => {
      const trace: string[] = [];
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          transactions.run(async (em) => {
            trace.push(`start ${i}`);
            await new Promise((resolve) => setTimeout(resolve, 5));
            await em.query('SELECT 1');
            trace.push(`end ${i}`);
          }),
        ),
      );
      expect(groups).toEqual([5]);
      expect(trace).toEqual([0, 1, 2, 3, 4].flatMap((i) => [`start ${i}`, `end ${i}`]));
    });

    it('lets a transaction see the writes of those before it in its group, as it would after their commits', async () => {
      const seen = await Promise.all([
        transactions.run((em) => em.query('INSERT INTO group_probe (v, unit) VALUES (?, ?)', ['first', 1])),
        transactions.run(async (em) => (await em.query<Array<{ n: number }>>("SELECT COUNT(*) AS n FROM group_probe WHERE v = 'first'"))[0].n),
      ]);
      expect(seen[1]).toBe(1);
      expect(groups).toEqual([2]);
    });

    it('fails a transaction that breaks a constraint alone, with the driver error, and commits the rest of its group', async () => {
      const insert = (v: string) => (em: EntityManager) => em.query('INSERT INTO group_probe (v, unit) VALUES (?, 0)', [v]);
      const outcomes = await Promise.allSettled([transactions.run(insert('x')), transactions.run(insert('x')), transactions.run(insert('y'))]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(isUniqueViolation((outcomes[1] as PromiseRejectedResult).reason)).toBe(true);
      expect((await rows()).map((r) => r.v)).toEqual(['x', 'y']);
      expect(groups).toEqual([3]);
    });

    it('resolves no transaction of a group before the shared commit, and fails them all when it fails', async () => {
      // A deferred foreign key is checked at COMMIT: the second unit's orphan makes the group's commit fail.
      const outcomes = await Promise.allSettled([
        transactions.run((em) => em.query("INSERT INTO group_probe (v, unit) VALUES ('before', 0)")),
        transactions.run((em) => em.query('INSERT INTO group_child (id, parent_id) VALUES (1, 42)')),
        transactions.run((em) => em.query("INSERT INTO group_probe (v, unit) VALUES ('after', 0)")),
        transactions.run(() => Promise.reject(new Refused('own error'))),
      ]);
      expect(groups).toEqual([4]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      for (const o of outcomes.slice(0, 3)) expect(String((o as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
      expect((outcomes[3] as PromiseRejectedResult).reason).toBeInstanceOf(Refused);
      expect(await rows()).toEqual([]);
      expect(await t.dataSource.query('SELECT COUNT(*) AS n FROM group_child')).toEqual([{ n: 0 }]);
      // The connection is fine afterwards.
      expect(await transactions.run(unit(1))).toBe('unit 1');
    });

    it('when SQLite ends the shared transaction under a unit, fails the units that ran with it and runs the rest in the next group', async () => {
      const outcomes = await Promise.allSettled([
        transactions.run(unit(1)),
        // Ends the transaction as SQLITE_FULL or SQLITE_IOERR may: its savepoint is gone.
        transactions.run((em) => em.query('ROLLBACK')),
        transactions.run(unit(2)),
        transactions.run(unit(4)),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
      expect(String(((outcomes[0] as PromiseRejectedResult).reason as Error).message)).toMatch(/rolled back the shared transaction/);
      expect(groups).toEqual([4, 2]);
      expect(new Set((await rows()).map((r) => r.unit))).toEqual(new Set([2, 4]));
      // TypeORM's query runner is back at depth 0: the next groups commit (a savepoint left open would never commit).
      await Promise.all([transactions.run(unit(5)), transactions.run(unit(7))]);
      expect(t.dataSource.createQueryRunner().isTransactionActive).toBe(false);
      expect(new Set((await rows()).map((r) => r.unit))).toEqual(new Set([2, 4, 5, 7]));
    });

    it('commits a group durably when any of its transactions asks for it, and without the WAL sync when none does', async () => {
      const sync = (em: EntityManager) => em.query<Array<{ synchronous: number }>>('PRAGMA synchronous').then((r) => r[0].synchronous);
      expect(await Promise.all([transactions.run(sync, { asyncCommit: true }), transactions.run(sync, { asyncCommit: true })])).toEqual([1, 1]);
      expect(await Promise.all([transactions.run(sync, { asyncCommit: true }), transactions.run(sync)])).toEqual([2, 2]);
      expect(groups).toEqual([2, 2]);
      expect(await t.dataSource.query('PRAGMA synchronous')).toEqual([{ synchronous: 2 }]);
    });

    it("keeps one transaction's audit cause off the events of the next in its group", async () => {
      const outbox = t.app.get(OutboxService);
      const [caused, plain] = await Promise.all([
        transactions.run(async (em) => {
          outbox.setCause(em, '00000000-0000-4000-8000-00000000c0de');
          return (await outbox.record(em, { type: 'test.caused', organizationId: null, data: {} })).id;
        }),
        transactions.run(async (em) => (await outbox.record(em, { type: 'test.plain', organizationId: null, data: {} })).id),
      ]);
      expect(groups).toEqual([2]);
      const events = t.dataSource.getRepository(DomainEvent);
      expect((await events.findOneByOrFail({ id: caused })).causeId).toBe('00000000-0000-4000-8000-00000000c0de');
      expect((await events.findOneByOrFail({ id: plain })).causeId).toBeNull();
    });
  });
});

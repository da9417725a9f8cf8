import { DataSource, EntityManager } from 'typeorm';
import { GroupCommit } from './group-commit';
import { TransactionRunner } from './transaction-runner.service';

describe('GroupCommit', () => {
  let dataSource: DataSource;
  let transactions: TransactionRunner;
  let commits: number;

  beforeEach(async () => {
    dataSource = await new DataSource({ type: 'better-sqlite3', database: ':memory:' }).initialize();
    await dataSource.query('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)');
    transactions = new TransactionRunner(dataSource);
    commits = 0;
    const run = transactions.run.bind(transactions);
    transactions.run = ((work: (em: EntityManager) => Promise<unknown>) => run(work).then((r) => ((commits += 1), r))) as TransactionRunner['run'];
  });
  afterEach(() => dataSource.destroy());

  const insert = (v: string) => (em: EntityManager) => em.query<Array<{ v: string }>>('INSERT INTO t (v) VALUES (?) RETURNING v', [v]);

  it('writes the writes queued meanwhile in one transaction, each resolving with its own result', async () => {
    const group = new GroupCommit(transactions);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => group.run(insert(`v${i}`))));
    expect(results.map((r) => r[0].v)).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`));
    expect(commits).toBeLessThanOrEqual(2);
    expect(await dataSource.query('SELECT COUNT(*) AS n FROM t')).toEqual([{ n: 20 }]);
  });

  it('runs the writes of a failed batch one by one, so one bad write fails alone', async () => {
    const group = new GroupCommit(transactions);
    const outcomes = await Promise.allSettled([group.run(insert('a')), group.run(insert('dup')), group.run(insert('dup')), group.run(insert('b'))]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(await dataSource.query('SELECT v FROM t ORDER BY v')).toEqual([{ v: 'a' }, { v: 'b' }, { v: 'dup' }]);
  });
});

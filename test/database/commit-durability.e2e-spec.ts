import { statSync } from 'node:fs';
import { TransactionRunner } from '../../src/database/transaction-runner.service';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { TEST_DB } from '../setup/test-database';

const sqliteOnly = TEST_DB === 'sqlite' ? describe : describe.skip;
const postgresOnly = TEST_DB === 'postgres' ? describe : describe.skip;

async function setting(t: TestApp, sql: string): Promise<string> {
  const rows: Array<Record<string, unknown>> = await t.dataSource.query(sql);
  return String(Object.values(rows[0])[0]);
}

describe('commit durability', () => {
  let t: TestApp;
  let transactions: TransactionRunner;
  beforeAll(async () => {
    t = await createTestApp();
    transactions = t.app.get(TransactionRunner);
  });
  afterAll(() => t.close());

  sqliteOnly('SQLite', () => {
    it('commits with a full WAL sync by default', async () => {
      expect(await setting(t, 'PRAGMA synchronous')).toBe('2');
      expect(await transactions.run((em) => em.query('PRAGMA synchronous'))).toEqual([{ synchronous: 2 }]);
    });

    it('skips the WAL sync in an asynchronous-commit transaction only, and is back to a full sync after it', async () => {
      expect(await transactions.run((em) => em.query('PRAGMA synchronous'), { asyncCommit: true })).toEqual([{ synchronous: 1 }]);
      expect(await setting(t, 'PRAGMA synchronous')).toBe('2');
      await expect(transactions.run(() => Promise.reject(new Error('rolled back')), { asyncCommit: true })).rejects.toThrow('rolled back');
      expect(await setting(t, 'PRAGMA synchronous')).toBe('2');
    });

    it('leaves WAL checkpoints to the background thread: none inside commits, and the WAL is reused', async () => {
      expect(await setting(t, 'PRAGMA wal_autocheckpoint')).toBe('0');
      const wal = `${String(t.dataSource.options.database)}-wal`;
      await t.dataSource.query('CREATE TABLE checkpoint_probe (id INTEGER PRIMARY KEY, v TEXT)');
      const write = () =>
        transactions.run(async (em) => {
          for (let i = 0; i < 40; i++) await em.query('INSERT INTO checkpoint_probe (v) VALUES (?)', ['x'.repeat(100_000)]);
        });
      await write();
      const first = statSync(wal).size;
      expect(first).toBeGreaterThan(4_000_000);
      // The thread checkpoints every 250 ms; once the whole WAL is in the database file, the next write starts it over.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await write();
      expect(statSync(wal).size).toBeLessThan(first * 1.5);
      await t.dataSource.query('DROP TABLE checkpoint_probe');
    });
  });

  postgresOnly('PostgreSQL', () => {
    it('commits synchronously by default', async () => {
      expect(await transactions.run((em) => em.query('SHOW synchronous_commit'))).toEqual([{ synchronous_commit: 'on' }]);
    });

    it('commits asynchronously in an asynchronous-commit transaction only', async () => {
      expect(await transactions.run((em) => em.query('SHOW synchronous_commit'), { asyncCommit: true })).toEqual([{ synchronous_commit: 'off' }]);
      expect(await transactions.run((em) => em.query('SHOW synchronous_commit'))).toEqual([{ synchronous_commit: 'on' }]);
    });
  });
});

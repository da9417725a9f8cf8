import { MIGRATIONS } from '../../migrations/migrations';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';
import { listTables, openDataSource, runProcess } from './cli-process';

/** The tables of the first migration (docs/protocols.md "Data", plus idempotency and the outbox). */
const INITIAL_TABLES = ['callback_requests', 'events', 'organizations', 'organizations_mapping', 'users'];

// ts-node type-checks ormconfig.ts and everything it imports on each start: give it time.
jest.setTimeout(300_000);

function migration(command: 'run' | 'revert', database: TestDatabase) {
  return runProcess('npm', ['run', '--silent', `migration:${command}`], database.env, 240_000);
}

async function executedMigrations(database: TestDatabase): Promise<number> {
  const ds = await openDataSource(database);
  try {
    const rows: unknown[] = await ds.query('SELECT * FROM migrations');
    return rows.length;
  } finally {
    await ds.destroy();
  }
}

describe(`migration CLI on ${TEST_DB} (npm run migration:run / migration:revert)`, () => {
  let database: TestDatabase;
  let migrated: string[];

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  it('migration:run creates every table on an empty database and records each migration', async () => {
    expect(await listTables(database)).toEqual([]);

    const run = await migration('run', database);

    expect(run).toMatchObject({ code: 0 });
    migrated = await listTables(database);
    expect(migrated).toEqual(expect.arrayContaining([...INITIAL_TABLES, 'migrations']));
    expect(await executedMigrations(database)).toBe(MIGRATIONS.length);
  });

  it('migration:revert undoes one migration at a time, down to the bookkeeping table alone', async () => {
    for (let left = MIGRATIONS.length - 1; left >= 0; left--) {
      const revert = await migration('revert', database);
      expect(revert).toMatchObject({ code: 0 });
      expect(await executedMigrations(database)).toBe(left);
    }
    expect(await listTables(database)).toEqual(['migrations']);
  });

  it('migration:run then recreates the same tables', async () => {
    const run = await migration('run', database);

    expect(run).toMatchObject({ code: 0 });
    expect(await listTables(database)).toEqual(migrated);
    expect(await executedMigrations(database)).toBe(MIGRATIONS.length);
  });
});

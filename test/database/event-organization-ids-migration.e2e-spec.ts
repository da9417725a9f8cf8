import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations/migrations';
import { readDatabaseConfig } from '../../src/config/database.config';
import { buildDataSourceOptions } from '../../src/database/data-source-options';
import { createTestDatabase, TestDatabase } from '../setup/test-database';

/** The migration that gives events their organization ids fills them in for the events already stored. */
describe('migration EventOrganizationIds on existing events', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  const open = (migrations: typeof MIGRATIONS): Promise<DataSource> =>
    new DataSource({ ...buildDataSourceOptions(readDatabaseConfig(database.env)), migrations }).initialize();

  it('stores each event its organization and its ancestors (the organization alone when not in the tree), and none for an event of no organization', async () => {
    const index = MIGRATIONS.findIndex((m) => m.name === 'EventOrganizationIds1733450000000');
    const before = await open(MIGRATIONS.slice(0, index));
    await before.runMigrations();
    const p = (i: number): string => (before.options.type === 'postgres' ? `$${i}` : '?');
    const organizations = [
      ['top', null],
      ['mid', 'top'],
      ['leaf', 'mid'],
      ['alone', null],
    ];
    for (const [id, parent] of organizations) await before.query(`INSERT INTO organizations (id, parent_id, name, kind) VALUES (${p(1)}, ${p(2)}, ${p(3)}, 'PARTNER')`, [id, parent, id]);
    const events = [
      ['e-leaf', 'leaf'],
      ['e-top', 'top'],
      ['e-alone', 'alone'],
      ['e-none', null],
      ['e-gone', 'gone'],
    ];
    for (const [id, organization] of events) {
      await before.query(`INSERT INTO events (id, type, organization_id, data, created_at) VALUES (${p(1)}, 'user.created', ${p(2)}, '{}', ${p(3)})`, [id, organization, new Date().toISOString()]);
    }
    await before.destroy();

    const after = await open(MIGRATIONS);
    await after.runMigrations();
    const rows: Array<{ id: string; organization_ids: string }> = await after.query('SELECT id, organization_ids FROM events ORDER BY id');
    await after.destroy();
    expect(Object.fromEntries(rows.map((r) => [r.id, JSON.parse(r.organization_ids) as string[]]))).toEqual({
      'e-alone': ['alone'],
      'e-gone': ['gone'],
      'e-leaf': ['leaf', 'mid', 'top'],
      'e-none': [],
      'e-top': ['top'],
    });
  });
});

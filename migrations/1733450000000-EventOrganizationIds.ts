import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Events carry the ids of the organizations they concern (its own, then its ancestors up to the
 * top), written by the outbox, so that the dispatcher matches subscriptions on ids without reading
 * the organization tree. Existing events get theirs from the tree as it is now: each
 * organization's chain is computed here once (not with the app's code, which may change after this
 * migration is released) and copied to its events in one statement.
 */
export class EventOrganizationIds1733450000000 implements MigrationInterface {
  name = 'EventOrganizationIds1733450000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Plain ALTER TABLE on both databases: TypeORM's addColumn rebuilds a SQLite table.
    await queryRunner.query(`ALTER TABLE events ADD COLUMN organization_ids text NOT NULL DEFAULT '[]'`);
    const organizations = (await queryRunner.query('SELECT id, parent_id FROM organizations')) as Array<{ id: string; parent_id: string | null }>;
    const parentOf = new Map(organizations.map((o) => [o.id, o.parent_id]));
    const postgres = queryRunner.connection.driver.options.type === 'postgres';
    await queryRunner.query(`CREATE TEMPORARY TABLE event_organization_chains (id varchar(36) PRIMARY KEY, ids text NOT NULL)`);
    const rows = organizations.map((o) => {
      const chain: string[] = [];
      for (let id: string | null = o.id; id !== null && !chain.includes(id); id = parentOf.get(id) ?? null) chain.push(id);
      return [o.id, JSON.stringify(chain)];
    });
    for (let i = 0; i < rows.length; i += 200) {
      const slice = rows.slice(i, i + 200);
      const values = slice.map((_, j) => (postgres ? `($${2 * j + 1}, $${2 * j + 2})` : '(?, ?)')).join(', ');
      await queryRunner.query(`INSERT INTO event_organization_chains (id, ids) VALUES ${values}`, slice.flat());
    }
    await queryRunner.query(
      `UPDATE events SET organization_ids = (SELECT c.ids FROM event_organization_chains c WHERE c.id = events.organization_id)
        WHERE organization_id IN (SELECT id FROM event_organization_chains)`,
    );
    await queryRunner.query('DROP TABLE event_organization_chains');
    // An organization no longer in the tree: its events concern it alone (as the outbox writes them). Ids hold no quotes.
    await queryRunner.query(`UPDATE events SET organization_ids = '["' || organization_id || '"]' WHERE organization_id IS NOT NULL AND organization_ids = '[]'`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE events DROP COLUMN organization_ids');
  }
}

import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * Indexes for the console's hook and connector pages (docs/console.md), which list newest first
 * (`created_at`, then `id`) and page by key:
 * - the decisions log across every hook the caller sees, newest first (the owner index serves one
 *   organization; a partner's or the vendor's view spans many);
 * - connector items newest first, overall and per state (the state filter), and their counts by
 *   state over an organization subtree (a covering index: no table row is read).
 */
export class ConsoleHooksConnector1733420000000 implements MigrationInterface {
  name = 'ConsoleHooksConnector1733420000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createIndex('hook_decisions', new TableIndex({ name: 'hook_decisions_created_idx', columnNames: ['created_at', 'id'] }));
    await queryRunner.createIndex('connector_items', new TableIndex({ name: 'connector_items_created_idx', columnNames: ['created_at', 'id'] }));
    await queryRunner.createIndex('connector_items', new TableIndex({ name: 'connector_items_state_created_idx', columnNames: ['state', 'created_at', 'id'] }));
    await queryRunner.createIndex('connector_items', new TableIndex({ name: 'connector_items_organization_state_idx', columnNames: ['organization_id', 'state'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('connector_items', 'connector_items_organization_state_idx');
    await queryRunner.dropIndex('connector_items', 'connector_items_state_created_idx');
    await queryRunner.dropIndex('connector_items', 'connector_items_created_idx');
    await queryRunner.dropIndex('hook_decisions', 'hook_decisions_created_idx');
  }
}

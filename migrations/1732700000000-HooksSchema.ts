import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { timestampColumns } from './column-types';

/**
 * Approval pre-/post-hooks (issue 7): `webhook_subscriptions.kind` (a hook endpoint's URL, secret
 * and enabled flag live in a subscription row of kind `hook`, so post-hooks use the delivery core),
 * `hook_endpoints` (operations, phase, timeout, failure policy) and `hook_decisions` (the log).
 */
export class HooksSchema1732700000000 implements MigrationInterface {
  name = 'HooksSchema1732700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = timestampColumns(queryRunner);
    // Plain ALTER TABLE on both databases: TypeORM's addColumn rebuilds the table on SQLite, and
    // dropping the old one inside the migration's transaction would cascade to its deliveries.
    await queryRunner.query(`ALTER TABLE webhook_subscriptions ADD COLUMN kind varchar(16) NOT NULL DEFAULT 'webhook'`);
    await queryRunner.createTable(
      new Table({
        name: 'hook_endpoints',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'operations', type: 'text' },
          { name: 'phase', type: 'varchar', length: '8' },
          { name: 'timeout_ms', type: 'integer' },
          { name: 'failure_policy', type: 'varchar', length: '16' },
          d.createdAt('created_at'),
          d.createdAt('updated_at'),
        ],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['id'], referencedTableName: 'webhook_subscriptions', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'hook_decisions',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'call_id', type: 'varchar', length: '36' },
          { name: 'operation', type: 'varchar', length: '64' },
          { name: 'hook_id', type: 'varchar', length: '36' },
          { name: 'hook_organization_id', type: 'varchar', length: '36' },
          { name: 'organization_id', type: 'varchar', length: '36' },
          { name: 'auth_id', type: 'varchar', length: '255' },
          { name: 'outcome', type: 'varchar', length: '16' },
          { name: 'approved', type: 'boolean', isNullable: true },
          { name: 'work_id', type: 'varchar', length: '255', isNullable: true },
          { name: 'reason', type: 'text', isNullable: true },
          { name: 'status_code', type: 'integer', isNullable: true },
          { name: 'error_class', type: 'varchar', length: '16', isNullable: true },
          { name: 'error', type: 'text', isNullable: true },
          { name: 'failure_policy', type: 'varchar', length: '16' },
          { name: 'policy_applied', type: 'boolean' },
          { name: 'latency_ms', type: 'integer' },
          d.timestamp('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'hook_decisions_owner_idx', columnNames: ['hook_organization_id', 'created_at'] }),
          new TableIndex({ name: 'hook_decisions_hook_idx', columnNames: ['hook_id', 'created_at'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('hook_decisions');
    await queryRunner.dropTable('hook_endpoints');
    await queryRunner.query(`DELETE FROM webhook_subscriptions WHERE kind <> 'webhook'`);
    await queryRunner.query('ALTER TABLE webhook_subscriptions DROP COLUMN kind');
  }
}

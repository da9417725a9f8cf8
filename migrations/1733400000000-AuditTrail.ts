import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { timestampColumns } from './column-types';

/** A partial index holding only the rows where `column` is set: rows without it cost nothing to insert. */
const lookup = (name: string, column: string): TableIndex => new TableIndex({ name, columnNames: [column], where: `${column} IS NOT NULL` });

/**
 * The audit trail (src/audit, docs/audit.md): one append-only table for every kind of work, and the
 * cause of each outbox event. Ids are UUIDv7, so the primary key is also the time order: paging,
 * the time filters and the retention sweep use it, and `at` needs no index. The subject columns
 * have partial indexes (a record has two or three of them set), so a callback's record updates
 * only the indexes of the columns it fills.
 */
export class AuditTrail1733400000000 implements MigrationInterface {
  name = 'AuditTrail1733400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = timestampColumns(queryRunner);
    const id = (name: string, length = '36') => ({ name, type: 'varchar', length, isNullable: true });
    await queryRunner.createTable(
      new Table({
        name: 'audit_records',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          d.timestamp('at'),
          { name: 'kind', type: 'varchar', length: '32' },
          { name: 'name', type: 'varchar', length: '255', isNullable: true },
          { name: 'outcome', type: 'varchar', length: '16' },
          { name: 'code', type: 'varchar', length: '64', isNullable: true },
          id('organization_id'),
          id('tenant_id', '64'),
          id('actor', '255'),
          id('request_id', '128'),
          id('event_id'),
          id('delivery_id'),
          id('work_id', '255'),
          id('action_id'),
          id('cause_id'),
          { name: 'duration_ms', type: 'integer', isNullable: true },
          { name: 'detail', type: 'text', isNullable: true },
        ],
        indices: [
          new TableIndex({ name: 'audit_records_organization_idx', columnNames: ['organization_id', 'id'] }),
          new TableIndex({ name: 'audit_records_kind_idx', columnNames: ['kind', 'id'] }),
          // Failures only: the successes, nearly every row, never enter it.
          new TableIndex({ name: 'audit_records_failed_idx', columnNames: ['id'], where: "outcome = 'failed'" }),
          new TableIndex({ name: 'audit_records_tenant_idx', columnNames: ['tenant_id', 'id'], where: 'tenant_id IS NOT NULL' }),
          lookup('audit_records_request_idx', 'request_id'),
          lookup('audit_records_event_idx', 'event_id'),
          lookup('audit_records_delivery_idx', 'delivery_id'),
          lookup('audit_records_work_idx', 'work_id'),
          lookup('audit_records_action_idx', 'action_id'),
          lookup('audit_records_cause_idx', 'cause_id'),
        ],
      }),
    );
    // Plain ALTER TABLE on both databases: TypeORM's addColumn rebuilds a SQLite table.
    await queryRunner.query('ALTER TABLE events ADD COLUMN cause_id varchar(36)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE events DROP COLUMN cause_id');
    await queryRunner.dropTable('audit_records');
  }
}

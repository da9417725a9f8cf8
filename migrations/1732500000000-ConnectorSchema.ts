import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { timestampColumns } from './column-types';

export class ConnectorSchema1732500000000 implements MigrationInterface {
  name = 'ConnectorSchema1732500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = timestampColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'connector_items',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'organization_id', type: 'varchar', length: '36' },
          { name: 'kind', type: 'varchar', length: '16' },
          { name: 'source', type: 'varchar', length: '16' },
          { name: 'idempotency_key', type: 'varchar', length: '255', isNullable: true },
          { name: 'fingerprint', type: 'varchar', length: '64' },
          { name: 'body', type: 'text' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'attempts', type: 'integer', default: 0 },
          d.timestamp('next_attempt_at'),
          d.timestamp('locked_until', true),
          { name: 'acronis_tenant_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'remote_id', type: 'varchar', length: '255', isNullable: true },
          { name: 'last_status', type: 'integer', isNullable: true },
          { name: 'last_error', type: 'text', isNullable: true },
          { name: 'waiting_reason', type: 'varchar', length: '255', isNullable: true },
          d.createdAt('created_at'),
          d.createdAt('updated_at'),
          d.timestamp('sent_at', true),
        ],
        indices: [
          new TableIndex({ name: 'connector_items_due_idx', columnNames: ['state', 'next_attempt_at'] }),
          new TableIndex({ name: 'connector_items_idempotency_idx', columnNames: ['organization_id', 'idempotency_key'], isUnique: true }),
          new TableIndex({ name: 'connector_items_organization_idx', columnNames: ['organization_id', 'created_at'] }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'connector_runs',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'trigger', type: 'varchar', length: '16' },
          { name: 'holder', type: 'varchar', length: '128' },
          { name: 'status', type: 'varchar', length: '16' },
          d.timestamp('started_at'),
          d.timestamp('finished_at', true),
          { name: 'sent', type: 'integer', default: 0 },
          { name: 'failed', type: 'integer', default: 0 },
          { name: 'skipped', type: 'integer', default: 0 },
          { name: 'error', type: 'text', isNullable: true },
        ],
        indices: [new TableIndex({ name: 'connector_runs_started_idx', columnNames: ['started_at'] })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'leases',
        columns: [
          { name: 'name', type: 'varchar', length: '64', isPrimary: true },
          { name: 'holder', type: 'varchar', length: '128' },
          d.timestamp('expires_at'),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['leases', 'connector_runs', 'connector_items']) await queryRunner.dropTable(table);
  }
}

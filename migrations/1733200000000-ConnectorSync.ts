import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';
import { timestampColumns } from './column-types';

/** Workloads kept in sync (connector_workloads), and where each item went and whether its alert was dismissed. */
export class ConnectorSync1733200000000 implements MigrationInterface {
  name = 'ConnectorSync1733200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = timestampColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'connector_workloads',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'organization_id', type: 'varchar', length: '36' },
          { name: 'type', type: 'varchar', length: '255' },
          { name: 'vendor_key', type: 'varchar', length: '255' },
          { name: 'desired_body', type: 'text' },
          { name: 'desired_fingerprint', type: 'varchar', length: '64' },
          { name: 'deleted', type: 'boolean', default: false },
          { name: 'acronis_tenant_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'acronis_dc_url', type: 'varchar', length: '255', isNullable: true },
          { name: 'remote_id', type: 'varchar', length: '64', isNullable: true },
          { name: 'synced_fingerprint', type: 'varchar', length: '64', isNullable: true },
          d.createdAt('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'connector_workloads_key_idx', columnNames: ['organization_id', 'type', 'vendor_key'], isUnique: true }),
          new TableIndex({ name: 'connector_workloads_tenant_idx', columnNames: ['acronis_tenant_id'] }),
        ],
      }),
    );
    await queryRunner.addColumns('connector_items', [
      new TableColumn({ name: 'acronis_dc_url', type: 'varchar', length: '255', isNullable: true }),
      new TableColumn(d.timestamp('dismissed_at', true)),
    ]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('connector_items', 'dismissed_at');
    await queryRunner.dropColumn('connector_items', 'acronis_dc_url');
    await queryRunner.dropTable('connector_workloads');
  }
}

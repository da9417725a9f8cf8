import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { timestampColumns } from './column-types';

/**
 * Mirrored enablement (the Acronis guide's mirroring callbacks): `mirrored_partners` holds a
 * partner organization's state, Acronis tenant name and settings; `mirrored_customers` the
 * customers a partner enabled, kept when disabled so that enabling one again reuses its
 * organization. The link itself stays an `organizations_mapping` row, as for mapped enablement.
 */
export class MirroredEnablement1733100000000 implements MigrationInterface {
  name = 'MirroredEnablement1733100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = timestampColumns(queryRunner);
    const organization = (column: string) =>
      new TableForeignKey({ columnNames: [column], referencedTableName: 'organizations', referencedColumnNames: ['id'], onDelete: 'CASCADE' });
    await queryRunner.createTable(
      new Table({
        name: 'mirrored_partners',
        columns: [
          { name: 'organization_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'acronis_tenant_id', type: 'varchar', length: '36' },
          { name: 'acronis_tenant_name', type: 'varchar', length: '255' },
          { name: 'settings', type: 'text', isNullable: true },
          d.createdAt('updated_at'),
        ],
        foreignKeys: [organization('organization_id')],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'mirrored_customers',
        columns: [
          { name: 'organization_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'partner_organization_id', type: 'varchar', length: '36' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'acronis_tenant_id', type: 'varchar', length: '36' },
          { name: 'acronis_tenant_name', type: 'varchar', length: '255' },
          { name: 'settings', type: 'text', isNullable: true },
          d.createdAt('updated_at'),
        ],
        foreignKeys: [organization('organization_id'), organization('partner_organization_id')],
        indices: [new TableIndex({ name: 'mirrored_customers_partner_tenant_idx', columnNames: ['partner_organization_id', 'acronis_tenant_id'] })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('mirrored_customers');
    await queryRunner.dropTable('mirrored_partners');
  }
}

import { MigrationInterface, QueryRunner, Table, TableColumnOptions, TableForeignKey, TableIndex } from 'typeorm';

/** Column helpers that pick the right native type on SQLite and PostgreSQL. */
function dialect(queryRunner: QueryRunner) {
  const postgres = queryRunner.connection.driver.options.type === 'postgres';
  return {
    id: (name: string, primary = true): TableColumnOptions => ({ name, type: 'varchar', length: '36', isPrimary: primary }),
    timestamp: (name: string): TableColumnOptions => ({
      name,
      type: postgres ? 'timestamptz' : 'datetime',
      default: postgres ? 'now()' : "(datetime('now'))",
    }),
  };
}

export class InitialSchema1732400000000 implements MigrationInterface {
  name = 'InitialSchema1732400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = dialect(queryRunner);

    await queryRunner.createTable(
      new Table({
        name: 'organizations',
        columns: [
          d.id('id'),
          { name: 'parent_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'name', type: 'varchar', length: '255' },
          { name: 'kind', type: 'varchar', length: '16' },
        ],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['parent_id'], referencedTableName: 'organizations', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
        indices: [new TableIndex({ name: 'organization_parent_idx', columnNames: ['parent_id'] })],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'users',
        columns: [
          d.id('id'),
          { name: 'login', type: 'varchar', length: '255', isUnique: true },
          { name: 'name', type: 'varchar', length: '255' },
          { name: 'email', type: 'varchar', length: '255' },
          { name: 'password', type: 'varchar', length: '255', isNullable: true },
          { name: 'organization_id', type: 'varchar', length: '36' },
          d.timestamp('created_at'),
          d.timestamp('updated_at'),
        ],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['organization_id'], referencedTableName: 'organizations', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
        indices: [new TableIndex({ name: 'users_organization_idx', columnNames: ['organization_id'] })],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'organizations_mapping',
        columns: [
          d.id('organization_id'),
          { name: 'acronis_tenant_id', type: 'varchar', length: '36', isUnique: true },
          { name: 'acronis_dc_url', type: 'varchar', length: '255', isNullable: true },
          d.timestamp('updated_at'),
        ],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['organization_id'], referencedTableName: 'organizations', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'callback_requests',
        columns: [
          { name: 'callback_id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'request_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '36' },
          { name: 'fingerprint', type: 'varchar', length: '64' },
          { name: 'response', type: 'text' },
          d.timestamp('created_at'),
        ],
        indices: [new TableIndex({ name: 'callback_requests_created_idx', columnNames: ['created_at'] })],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'events',
        columns: [
          d.id('id'),
          { name: 'type', type: 'varchar', length: '128' },
          { name: 'organization_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'data', type: 'text' },
          d.timestamp('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'events_created_idx', columnNames: ['created_at'] }),
          new TableIndex({ name: 'events_organization_idx', columnNames: ['organization_id'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['events', 'callback_requests', 'organizations_mapping', 'users', 'organizations']) {
      await queryRunner.dropTable(table);
    }
  }
}

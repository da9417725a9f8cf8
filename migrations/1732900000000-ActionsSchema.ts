import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { timestampColumns } from './column-types';

/** WebSocket action channel (issue 9): handler credentials, capabilities, applicabilities and the action ledger. */
export class ActionsSchema1732900000000 implements MigrationInterface {
  name = 'ActionsSchema1732900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = timestampColumns(queryRunner);
    const organizationFk = (): TableForeignKey =>
      new TableForeignKey({ columnNames: ['organization_id'], referencedTableName: 'organizations', referencedColumnNames: ['id'], onDelete: 'CASCADE' });
    await queryRunner.createTable(
      new Table({
        name: 'action_handlers',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'organization_id', type: 'varchar', length: '36' },
          { name: 'name', type: 'varchar', length: '255' },
          { name: 'token_hash', type: 'varchar', length: '64' },
          { name: 'created_by', type: 'varchar', length: '36', isNullable: true },
          d.timestamp('created_at'),
          d.timestamp('revoked_at', true),
        ],
        indices: [
          new TableIndex({ name: 'action_handlers_organization_name_idx', columnNames: ['organization_id', 'name'], isUnique: true }),
          new TableIndex({ name: 'action_handlers_token_hash_idx', columnNames: ['token_hash'], isUnique: true }),
        ],
        foreignKeys: [organizationFk()],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'action_capabilities',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'organization_id', type: 'varchar', length: '36' },
          { name: 'name', type: 'varchar', length: '255' },
          { name: 'description', type: 'text', isNullable: true },
          { name: 'mandatory_parameters', type: 'text' },
          { name: 'optional_parameters', type: 'text' },
          d.timestamp('created_at'),
          d.timestamp('updated_at'),
        ],
        indices: [new TableIndex({ name: 'action_capabilities_organization_name_idx', columnNames: ['organization_id', 'name'], isUnique: true })],
        foreignKeys: [organizationFk()],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'action_applicabilities',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'organization_id', type: 'varchar', length: '36' },
          { name: 'handler_id', type: 'varchar', length: '36' },
          { name: 'capability_id', type: 'varchar', length: '36' },
          { name: 'parameters', type: 'text' },
          d.timestamp('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'action_applicabilities_handler_capability_idx', columnNames: ['handler_id', 'capability_id'], isUnique: true }),
          new TableIndex({ name: 'action_applicabilities_capability_idx', columnNames: ['capability_id'] }),
        ],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['handler_id'], referencedTableName: 'action_handlers', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
          new TableForeignKey({ columnNames: ['capability_id'], referencedTableName: 'action_capabilities', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'actions',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'organization_id', type: 'varchar', length: '36' },
          { name: 'handler_id', type: 'varchar', length: '36' },
          { name: 'capability', type: 'varchar', length: '255' },
          { name: 'parameters', type: 'text' },
          { name: 'timeout_ms', type: 'integer' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'send_count', type: 'integer', default: 0 },
          { name: 'result', type: 'text', isNullable: true },
          { name: 'result_code', type: 'integer', isNullable: true },
          { name: 'submitted_by', type: 'varchar', length: '255', isNullable: true },
          d.timestamp('submitted_at'),
          d.timestamp('sent_at', true),
          d.timestamp('acked_at', true),
          d.timestamp('completed_at', true),
          d.timestamp('expires_at'),
        ],
        indices: [
          new TableIndex({ name: 'actions_handler_state_idx', columnNames: ['handler_id', 'state'] }),
          new TableIndex({ name: 'actions_state_expires_idx', columnNames: ['state', 'expires_at'] }),
          new TableIndex({ name: 'actions_organization_submitted_idx', columnNames: ['organization_id', 'submitted_at'] }),
        ],
        foreignKeys: [
          organizationFk(),
          new TableForeignKey({ columnNames: ['handler_id'], referencedTableName: 'action_handlers', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['actions', 'action_applicabilities', 'action_capabilities', 'action_handlers']) await queryRunner.dropTable(table);
  }
}

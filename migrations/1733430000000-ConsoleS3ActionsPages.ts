import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { timestampColumns } from './column-types';

/**
 * The console's S3 and actions pages (docs/console.md): the subscription confirmations of each S3
 * source (the newest 100 kept per source), when each action handler was last seen on the channel,
 * and an inbox index for a source's records of one state, newest first (the state filter of the
 * source page). The column is added with plain ALTER TABLE: TypeORM's addColumn rebuilds a SQLite table.
 */
export class ConsoleS3ActionsPages1733430000000 implements MigrationInterface {
  name = 'ConsoleS3ActionsPages1733430000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = timestampColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 's3_source_confirmations',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'source_id', type: 'varchar', length: '36' },
          { name: 'bucket', type: 'varchar', length: '4096' },
          { name: 'topic_arn', type: 'varchar', length: '4096' },
          // The confirmation's own Timestamp, as sent (it is signed as text).
          { name: 'message_timestamp', type: 'varchar', length: '4096' },
          d.timestamp('confirmed_at'),
        ],
        indices: [new TableIndex({ name: 's3_source_confirmations_source_idx', columnNames: ['source_id', 'confirmed_at'] })],
        foreignKeys: [new TableForeignKey({ columnNames: ['source_id'], referencedTableName: 's3_event_sources', referencedColumnNames: ['id'], onDelete: 'CASCADE' })],
      }),
    );
    const timestampType = queryRunner.connection.driver.options.type === 'postgres' ? 'timestamptz' : 'datetime';
    await queryRunner.query(`ALTER TABLE action_handlers ADD COLUMN last_seen_at ${timestampType}`);
    await queryRunner.createIndex('s3_inbox', new TableIndex({ name: 's3_inbox_source_state_idx', columnNames: ['source_id', 'state', 'created_at'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('s3_inbox', 's3_inbox_source_state_idx');
    await queryRunner.query('ALTER TABLE action_handlers DROP COLUMN last_seen_at');
    await queryRunner.dropTable('s3_source_confirmations');
  }
}

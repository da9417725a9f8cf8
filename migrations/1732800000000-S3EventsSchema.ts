import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { timestampColumns } from './column-types';

/** Object-storage event intake (issue 8): sources, the inbox of reported object events, and action attempts. */
export class S3EventsSchema1732800000000 implements MigrationInterface {
  name = 'S3EventsSchema1732800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = timestampColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 's3_event_sources',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'organization_id', type: 'varchar', length: '36' },
          { name: 'created_by', type: 'varchar', length: '36', isNullable: true },
          { name: 'name', type: 'varchar', length: '255' },
          { name: 'public_url', type: 'varchar', length: '2048', isNullable: true },
          { name: 'token_hash', type: 'varchar', length: '64', isUnique: true },
          { name: 'allowed_buckets', type: 'text' },
          { name: 'actions', type: 'text' },
          { name: 'enabled', type: 'boolean', default: true },
          d.createdAt('created_at'),
          d.createdAt('updated_at'),
        ],
        indices: [new TableIndex({ name: 's3_event_sources_organization_idx', columnNames: ['organization_id'] })],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['organization_id'], referencedTableName: 'organizations', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 's3_inbox',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'source_id', type: 'varchar', length: '36' },
          { name: 'organization_id', type: 'varchar', length: '36' },
          { name: 'bucket', type: 'varchar', length: '255' },
          { name: 'object_key', type: 'varchar', length: '1024' },
          { name: 'event_name', type: 'varchar', length: '128' },
          { name: 'etag', type: 'varchar', length: '255', isNullable: true },
          { name: 'sequencer', type: 'varchar', length: '64' },
          { name: 'seq_sort', type: 'varchar', length: '32' },
          { name: 'size', type: 'varchar', length: '32', isNullable: true },
          { name: 'dedupe_key', type: 'varchar', length: '64' },
          { name: 'record', type: 'text' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'attempts', type: 'integer', default: 0 },
          { name: 'attempt_base', type: 'integer', default: 0 },
          { name: 'emitted', type: 'boolean', default: false },
          { name: 'forced', type: 'boolean', default: false },
          { name: 'actions_done', type: 'text' },
          d.timestamp('next_attempt_at'),
          d.timestamp('locked_until', true),
          { name: 'last_error', type: 'text', isNullable: true },
          d.createdAt('created_at'),
          d.createdAt('updated_at'),
          d.timestamp('completed_at', true),
        ],
        indices: [
          new TableIndex({ name: 's3_inbox_dedupe_idx', columnNames: ['source_id', 'dedupe_key'], isUnique: true }),
          new TableIndex({ name: 's3_inbox_due_idx', columnNames: ['state', 'next_attempt_at'] }),
          new TableIndex({ name: 's3_inbox_object_idx', columnNames: ['source_id', 'bucket', 'object_key', 'seq_sort'] }),
          new TableIndex({ name: 's3_inbox_source_idx', columnNames: ['source_id', 'created_at'] }),
        ],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['source_id'], referencedTableName: 's3_event_sources', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 's3_action_attempts',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'inbox_id', type: 'varchar', length: '36' },
          { name: 'action_index', type: 'integer' },
          { name: 'action_type', type: 'varchar', length: '16' },
          { name: 'attempt', type: 'integer' },
          { name: 'operation', type: 'varchar', length: '8' },
          d.timestamp('started_at'),
          { name: 'duration_ms', type: 'integer' },
          { name: 'success', type: 'boolean' },
          { name: 'exit_code', type: 'integer', isNullable: true },
          { name: 'stdout', type: 'text', isNullable: true },
          { name: 'stderr', type: 'text', isNullable: true },
          { name: 'error', type: 'text', isNullable: true },
          { name: 'note', type: 'text', isNullable: true },
        ],
        indices: [new TableIndex({ name: 's3_action_attempts_record_idx', columnNames: ['inbox_id', 'started_at'] })],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['inbox_id'], referencedTableName: 's3_inbox', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('s3_action_attempts');
    await queryRunner.dropTable('s3_inbox');
    await queryRunner.dropTable('s3_event_sources');
  }
}

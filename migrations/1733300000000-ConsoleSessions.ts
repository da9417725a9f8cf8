import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { timestampColumns } from './column-types';

/**
 * The operator console (src/console): its sign-in sessions, and the exact request of every webhook
 * delivery attempt (URL and headers, signatures included; the body is the delivery's payload).
 * The columns are added with plain ALTER TABLE on both databases: TypeORM's addColumn rebuilds a
 * SQLite table, and the attempts table is the largest one.
 */
export class ConsoleSessions1733300000000 implements MigrationInterface {
  name = 'ConsoleSessions1733300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = timestampColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'console_sessions',
        columns: [
          // SHA-256 (hex) of the random token in the cookie: the table alone signs nobody in.
          { name: 'id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '36' },
          { name: 'password_fingerprint', type: 'varchar', length: '64' },
          { name: 'csrf_token', type: 'varchar', length: '64' },
          d.timestamp('created_at'),
          d.timestamp('last_seen_at'),
          d.timestamp('expires_at'),
        ],
        indices: [
          new TableIndex({ name: 'console_sessions_user_idx', columnNames: ['user_id'] }),
          new TableIndex({ name: 'console_sessions_expires_idx', columnNames: ['expires_at'] }),
        ],
        foreignKeys: [new TableForeignKey({ columnNames: ['user_id'], referencedTableName: 'users', referencedColumnNames: ['id'], onDelete: 'CASCADE' })],
      }),
    );
    await queryRunner.query('ALTER TABLE webhook_delivery_attempts ADD COLUMN request_url varchar(2048)');
    await queryRunner.query('ALTER TABLE webhook_delivery_attempts ADD COLUMN request_headers text');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE webhook_delivery_attempts DROP COLUMN request_headers');
    await queryRunner.query('ALTER TABLE webhook_delivery_attempts DROP COLUMN request_url');
    await queryRunner.dropTable('console_sessions');
  }
}

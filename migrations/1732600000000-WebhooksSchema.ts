import { MigrationInterface, QueryRunner, Table, TableColumn, TableForeignKey, TableIndex } from 'typeorm';
import { timestampColumns } from './column-types';

/** Subscriptions, deliveries and their attempts; `events.dispatched_at` marks events fanned out to deliveries. */
export class WebhooksSchema1732600000000 implements MigrationInterface {
  name = 'WebhooksSchema1732600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const d = timestampColumns(queryRunner);
    await queryRunner.addColumn('events', new TableColumn(d.timestamp('dispatched_at', true)));
    // Events written before subscriptions existed have nobody to go to.
    await queryRunner.query('UPDATE events SET dispatched_at = created_at');
    await queryRunner.createIndex('events', new TableIndex({ name: 'events_dispatch_idx', columnNames: ['dispatched_at', 'created_at'] }));

    await queryRunner.createTable(
      new Table({
        name: 'webhook_subscriptions',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'organization_id', type: 'varchar', length: '36' },
          { name: 'created_by', type: 'varchar', length: '36', isNullable: true },
          { name: 'name', type: 'varchar', length: '255' },
          { name: 'description', type: 'text', isNullable: true },
          { name: 'payload_url', type: 'varchar', length: '2048' },
          { name: 'secret', type: 'varchar', length: '255', isNullable: true },
          { name: 'previous_secret', type: 'varchar', length: '255', isNullable: true },
          d.timestamp('previous_secret_expires_at', true),
          { name: 'ssl_verification', type: 'boolean', default: true },
          { name: 'enabled', type: 'boolean', default: true },
          { name: 'disabled_reason', type: 'varchar', length: '255', isNullable: true },
          { name: 'scope', type: 'varchar', length: '16' },
          { name: 'filters', type: 'text' },
          d.createdAt('created_at'),
          d.createdAt('updated_at'),
        ],
        indices: [new TableIndex({ name: 'webhook_subscriptions_organization_idx', columnNames: ['organization_id'] })],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['organization_id'], referencedTableName: 'organizations', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'webhook_deliveries',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'subscription_id', type: 'varchar', length: '36' },
          { name: 'event_id', type: 'varchar', length: '36' },
          { name: 'event_type', type: 'varchar', length: '128' },
          { name: 'organization_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'payload', type: 'text' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'attempts', type: 'integer', default: 0 },
          d.timestamp('next_attempt_at'),
          d.timestamp('locked_until', true),
          { name: 'last_status', type: 'integer', isNullable: true },
          { name: 'last_error', type: 'text', isNullable: true },
          { name: 'redelivery_of', type: 'varchar', length: '36', isNullable: true },
          d.createdAt('created_at'),
          d.createdAt('updated_at'),
          d.timestamp('completed_at', true),
        ],
        indices: [
          new TableIndex({ name: 'webhook_deliveries_due_idx', columnNames: ['state', 'next_attempt_at'] }),
          new TableIndex({ name: 'webhook_deliveries_subscription_idx', columnNames: ['subscription_id', 'created_at'] }),
          new TableIndex({ name: 'webhook_deliveries_event_idx', columnNames: ['event_id'] }),
        ],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['subscription_id'], referencedTableName: 'webhook_subscriptions', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'webhook_delivery_attempts',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'delivery_id', type: 'varchar', length: '36' },
          { name: 'attempt', type: 'integer' },
          d.timestamp('started_at'),
          { name: 'duration_ms', type: 'integer' },
          { name: 'status_code', type: 'integer', isNullable: true },
          { name: 'response_body', type: 'text', isNullable: true },
          { name: 'error_class', type: 'varchar', length: '16', isNullable: true },
          { name: 'error', type: 'text', isNullable: true },
          { name: 'success', type: 'boolean' },
        ],
        indices: [new TableIndex({ name: 'webhook_delivery_attempts_delivery_idx', columnNames: ['delivery_id', 'attempt'] })],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['delivery_id'], referencedTableName: 'webhook_deliveries', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['webhook_delivery_attempts', 'webhook_deliveries', 'webhook_subscriptions']) await queryRunner.dropTable(table);
    await queryRunner.dropIndex('events', 'events_dispatch_idx');
    await queryRunner.dropColumn('events', 'dispatched_at');
  }
}

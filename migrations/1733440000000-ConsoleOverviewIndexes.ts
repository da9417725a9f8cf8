import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * The console's overview and lists with a large history (bench/console.bench.ts): failed deliveries
 * in time order, per subscription and across them, in partial indexes that hold only them (the
 * dead letters, the "failed" filter and the replay-since count read them instead of every
 * delivery); the redeliveries by what they redeliver, in a partial index of only them ("not
 * replayed yet" looks there instead of at every delivery of the event); and connector items and S3 inbox records per organization in time order (the
 * overview's "last hour").
 */
export class ConsoleOverviewIndexes1733440000000 implements MigrationInterface {
  name = 'ConsoleOverviewIndexes1733440000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createIndex(
      'webhook_deliveries',
      new TableIndex({ name: 'webhook_deliveries_failed_idx', columnNames: ['subscription_id', 'created_at', 'id'], where: "state = 'failed'" }),
    );
    await queryRunner.createIndex(
      'webhook_deliveries',
      new TableIndex({ name: 'webhook_deliveries_failed_time_idx', columnNames: ['created_at', 'id'], where: "state = 'failed'" }),
    );
    await queryRunner.createIndex(
      'webhook_deliveries',
      new TableIndex({ name: 'webhook_deliveries_redelivery_idx', columnNames: ['redelivery_of'], where: 'redelivery_of IS NOT NULL' }),
    );
    await queryRunner.createIndex('connector_items', new TableIndex({ name: 'connector_items_organization_created_idx', columnNames: ['organization_id', 'created_at'] }));
    await queryRunner.createIndex('s3_inbox', new TableIndex({ name: 's3_inbox_organization_created_idx', columnNames: ['organization_id', 'created_at'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('s3_inbox', 's3_inbox_organization_created_idx');
    await queryRunner.dropIndex('connector_items', 'connector_items_organization_created_idx');
    await queryRunner.dropIndex('webhook_deliveries', 'webhook_deliveries_redelivery_idx');
    await queryRunner.dropIndex('webhook_deliveries', 'webhook_deliveries_failed_time_idx');
    await queryRunner.dropIndex('webhook_deliveries', 'webhook_deliveries_failed_idx');
  }
}

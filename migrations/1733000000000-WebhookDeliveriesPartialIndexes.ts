import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * The delivery worker's two lookups get partial indexes that hold only the rows they look for:
 * pending deliveries per subscription (due time order) and claimed ones (claim expiry). Delivered
 * and failed rows, the bulk of the table, leave both, and a claim or an outcome changes at most
 * two small index entries instead of two entries in each of two indexes over the whole table.
 */
export class WebhookDeliveriesPartialIndexes1733000000000 implements MigrationInterface {
  name = 'WebhookDeliveriesPartialIndexes1733000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('webhook_deliveries', 'webhook_deliveries_due_idx');
    await queryRunner.dropIndex('webhook_deliveries', 'webhook_deliveries_subscription_due_idx');
    await queryRunner.createIndex(
      'webhook_deliveries',
      new TableIndex({ name: 'webhook_deliveries_pending_idx', columnNames: ['subscription_id', 'next_attempt_at'], where: "state = 'pending'" }),
    );
    await queryRunner.createIndex(
      'webhook_deliveries',
      new TableIndex({ name: 'webhook_deliveries_claimed_idx', columnNames: ['locked_until'], where: "state = 'delivering'" }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('webhook_deliveries', 'webhook_deliveries_claimed_idx');
    await queryRunner.dropIndex('webhook_deliveries', 'webhook_deliveries_pending_idx');
    await queryRunner.createIndex('webhook_deliveries', new TableIndex({ name: 'webhook_deliveries_due_idx', columnNames: ['state', 'next_attempt_at'] }));
    await queryRunner.createIndex(
      'webhook_deliveries',
      new TableIndex({ name: 'webhook_deliveries_subscription_due_idx', columnNames: ['subscription_id', 'state', 'next_attempt_at'] }),
    );
  }
}

import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/** The delivery worker picks due deliveries per subscription, so that a saturated subscription's backlog is never scanned. */
export class WebhookDeliveriesSubscriptionDueIndex1732650000000 implements MigrationInterface {
  name = 'WebhookDeliveriesSubscriptionDueIndex1732650000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createIndex(
      'webhook_deliveries',
      new TableIndex({ name: 'webhook_deliveries_subscription_due_idx', columnNames: ['subscription_id', 'state', 'next_attempt_at'] }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('webhook_deliveries', 'webhook_deliveries_subscription_due_idx');
  }
}

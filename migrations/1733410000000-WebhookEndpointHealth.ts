import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Endpoint health (issue 17): when a subscription's attempts started failing and none succeeded
 * since (`failing_since`, set and cleared by the delivery worker), and when it was disabled
 * (`disabled_at`; why, when the gateway did it, is `disabled_reason`). WebhookHealthJob disables a
 * subscription failing for WEBHOOKS_AUTO_DISABLE_AFTER_HOURS. Plain ALTER TABLE on both databases,
 * as in HooksSchema: TypeORM's addColumn rebuilds a SQLite table, and dropping the old one inside
 * the migration's transaction would cascade to its deliveries.
 */
export class WebhookEndpointHealth1733410000000 implements MigrationInterface {
  name = 'WebhookEndpointHealth1733410000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const timestamp = queryRunner.connection.driver.options.type === 'postgres' ? 'timestamptz' : 'datetime';
    await queryRunner.query(`ALTER TABLE webhook_subscriptions ADD COLUMN failing_since ${timestamp} NULL`);
    await queryRunner.query(`ALTER TABLE webhook_subscriptions ADD COLUMN disabled_at ${timestamp} NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE webhook_subscriptions DROP COLUMN disabled_at');
    await queryRunner.query('ALTER TABLE webhook_subscriptions DROP COLUMN failing_since');
  }
}

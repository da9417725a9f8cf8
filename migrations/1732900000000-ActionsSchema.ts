import { MigrationInterface, QueryRunner } from 'typeorm';

/** WebSocket action channel (issue 9). */
export class ActionsSchema1732900000000 implements MigrationInterface {
  name = 'ActionsSchema1732900000000';

  async up(_queryRunner: QueryRunner): Promise<void> {}

  async down(_queryRunner: QueryRunner): Promise<void> {}
}

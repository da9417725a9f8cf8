import { MigrationInterface, QueryRunner } from 'typeorm';

/** Approval pre-/post-hooks (issue 7). */
export class HooksSchema1732700000000 implements MigrationInterface {
  name = 'HooksSchema1732700000000';

  async up(_queryRunner: QueryRunner): Promise<void> {}

  async down(_queryRunner: QueryRunner): Promise<void> {}
}

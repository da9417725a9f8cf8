import { MigrationInterface, QueryRunner } from 'typeorm';

/** Object-storage event intake (issue 8). */
export class S3EventsSchema1732800000000 implements MigrationInterface {
  name = 'S3EventsSchema1732800000000';

  async up(_queryRunner: QueryRunner): Promise<void> {}

  async down(_queryRunner: QueryRunner): Promise<void> {}
}

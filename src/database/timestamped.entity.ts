import { CreateDateColumn, UpdateDateColumn } from 'typeorm';

/** The `created_at` and `updated_at` columns TypeORM sets on insert and on every save. Not a table. */
export abstract class Timestamped {
  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt!: Date;
}

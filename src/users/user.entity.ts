import { Column, Entity, PrimaryColumn } from 'typeorm';
import { Timestamped } from '../database/timestamped.entity';

@Entity('users')
export class User extends Timestamped {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** Unique across the service, stored lower-case. */
  @Column({ type: 'varchar', length: 255, unique: true })
  login!: string;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'varchar', length: 255 })
  email!: string;

  /** argon2 PHC string; null for users that cannot authenticate. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  password!: string | null;

  @Column({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;
}

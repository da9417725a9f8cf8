import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A named lease: the holder may run the job it names until `expires_at` (renewed while running). */
@Entity('leases')
export class Lease {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  name!: string;

  @Column({ type: 'varchar', length: 128 })
  holder!: string;

  @Column({ name: 'expires_at', type: Date })
  expiresAt!: Date;
}

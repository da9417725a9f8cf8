import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A domain event, written in the same transaction as the change it reports (the outbox). */
@Entity('events')
export class DomainEvent {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** Dot-delimited, e.g. `user.created`. */
  @Column({ type: 'varchar', length: 128 })
  type!: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 36, nullable: true })
  organizationId!: string | null;

  @Column({ type: 'simple-json' })
  data!: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;
}

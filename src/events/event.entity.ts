import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** A domain event, written in the same transaction as the change it reports (the outbox). */
@Entity('events')
@Index('events_dispatch_idx', ['dispatchedAt', 'createdAt'])
export class DomainEvent {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** Dot-delimited, e.g. `user.created`. */
  @Column({ type: 'varchar', length: 128 })
  type!: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 36, nullable: true })
  organizationId!: string | null;

  /**
   * The organizations the event concerns: its own first, then its ancestors up to the top (the
   * outbox asks the organization tree's owner when it writes the event); empty without an organization.
   */
  @Column({ name: 'organization_ids', type: 'simple-json', default: '[]' })
  organizationIds!: string[];

  @Column({ type: 'simple-json' })
  data!: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;

  /** The audit record of what recorded the event (a callback's), linked by the dispatcher's record of the event. */
  @Column({ name: 'cause_id', type: 'varchar', length: 36, nullable: true })
  causeId!: string | null;

  /** When the dispatcher fanned it out to the matching subscriptions' deliveries; null until then. */
  @Column({ name: 'dispatched_at', type: Date, nullable: true })
  dispatchedAt!: Date | null;
}

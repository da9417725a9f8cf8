import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One run of one action for one inbox record, with what it left behind. */
@Entity('s3_action_attempts')
@Index('s3_action_attempts_record_idx', ['inboxId', 'startedAt'])
export class S3ActionAttempt {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'inbox_id', type: 'varchar', length: 36 })
  inboxId!: string;

  @Column({ name: 'action_index', type: 'integer' })
  actionIndex!: number;

  @Column({ name: 'action_type', type: 'varchar', length: 16 })
  actionType!: string;

  /** The record's claim number this run belonged to. */
  @Column({ type: 'integer' })
  attempt!: number;

  @Column({ type: 'varchar', length: 8 })
  operation!: string;

  @Column({ name: 'started_at', type: Date })
  startedAt!: Date;

  @Column({ name: 'duration_ms', type: 'integer' })
  durationMs!: number;

  @Column({ type: 'boolean' })
  success!: boolean;

  @Column({ name: 'exit_code', type: 'integer', nullable: true })
  exitCode!: number | null;

  @Column({ type: 'text', nullable: true })
  stdout!: string | null;

  @Column({ type: 'text', nullable: true })
  stderr!: string | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  /** What a successful run did when it was not the plain operation, e.g. a delete skipped because the source has the object again. */
  @Column({ type: 'text', nullable: true })
  note!: string | null;
}

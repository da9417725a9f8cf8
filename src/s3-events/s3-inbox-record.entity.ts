import { Column, Entity, Index } from 'typeorm';
import { WorkQueueRow } from '../work-core/work-queue-row.entity';

export enum S3InboxState {
  Pending = 'pending',
  Processing = 'processing',
  Done = 'done',
  SkippedStale = 'skipped_stale',
  Failed = 'failed',
}

/** One object event as the bucket reported it, stored before the answer, acted on by the worker. */
@Entity('s3_inbox')
@Index('s3_inbox_dedupe_idx', ['sourceId', 'dedupeKey'], { unique: true })
@Index('s3_inbox_due_idx', ['state', 'nextAttemptAt'])
@Index('s3_inbox_object_idx', ['sourceId', 'bucket', 'objectKey', 'seqSort'])
@Index('s3_inbox_source_idx', ['sourceId', 'createdAt'])
@Index('s3_inbox_organization_created_idx', ['organizationId', 'createdAt'])
@Index('s3_inbox_source_state_idx', ['sourceId', 'state', 'createdAt'])
export class S3InboxRecord extends WorkQueueRow<S3InboxState> {
  @Column({ name: 'source_id', type: 'varchar', length: 36 })
  sourceId!: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;

  @Column({ type: 'varchar', length: 255 })
  bucket!: string;

  @Column({ name: 'object_key', type: 'varchar', length: 1024 })
  objectKey!: string;

  @Column({ name: 'event_name', type: 'varchar', length: 128 })
  eventName!: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  etag!: string | null;

  /** As received (a number's decimal digits, or the string). */
  @Column({ type: 'varchar', length: 64 })
  sequencer!: string;

  /** The sequencer as 32 lowercase hex digits, so that text order is sequencer order. */
  @Column({ name: 'seq_sort', type: 'varchar', length: 32 })
  seqSort!: string;

  @Column({ type: 'varchar', length: 32, nullable: true })
  size!: string | null;

  /** SHA-256 of (bucket, key, eTag, sequencer, eventName): a repeated delivery is not stored twice. */
  @Column({ name: 'dedupe_key', type: 'varchar', length: 64 })
  dedupeKey!: string;

  /** The record's JSON as received. */
  @Column({ type: 'text' })
  record!: string;

  /** `attempts` when the record was last replayed: tries count from there. */
  @Column({ name: 'attempt_base', type: 'integer', default: 0 })
  attemptBase!: number;

  /** Whether its `s3.object.*` event was recorded in the outbox (once per record). */
  @Column({ type: 'boolean', default: false })
  emitted!: boolean;

  /** Replayed by hand: run even if a newer event of the key was acted on. */
  @Column({ type: 'boolean', default: false })
  forced!: boolean;

  /** Indexes of the source's actions that succeeded for this record: a retry runs only the others. */
  @Column({ name: 'actions_done', type: 'simple-json' })
  actionsDone!: number[];

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @Column({ name: 'completed_at', type: Date, nullable: true })
  completedAt!: Date | null;
}

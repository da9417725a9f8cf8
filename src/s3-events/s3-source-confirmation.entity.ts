import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** Confirmations kept per source, the newest: the intake deletes older ones as it records one. */
export const CONFIRMATIONS_KEPT = 100;

/** A SubscriptionConfirmation the intake answered for a source (the newest 100 per source are kept). Never its Token. */
@Entity('s3_source_confirmations')
@Index('s3_source_confirmations_source_idx', ['sourceId', 'confirmedAt'])
export class S3SourceConfirmation {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'source_id', type: 'varchar', length: 36 })
  sourceId!: string;

  @Column({ type: 'varchar', length: 4096 })
  bucket!: string;

  @Column({ name: 'topic_arn', type: 'varchar', length: 4096 })
  topicArn!: string;

  /** The message's Timestamp as sent. */
  @Column({ name: 'message_timestamp', type: 'varchar', length: 4096 })
  messageTimestamp!: string;

  @Column({ name: 'confirmed_at', type: Date })
  confirmedAt!: Date;
}

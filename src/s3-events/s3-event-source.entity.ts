import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { S3Action } from './s3-action.types';
import { Timestamped } from '../database/timestamped.entity';

/** A bucket notification endpoint: the URL the bucket calls, the buckets it may report, and what to do. */
@Entity('s3_event_sources')
@Index('s3_event_sources_organization_idx', ['organizationId'])
export class S3EventSource extends Timestamped {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;

  @Column({ name: 'created_by', type: 'varchar', length: 36, nullable: true })
  createdBy!: string | null;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  /** The exact URL configured in the bucket's notification, signed byte for byte; null until set. */
  @Column({ name: 'public_url', type: 'varchar', length: 2048, nullable: true })
  publicUrl!: string | null;

  /** SHA-256 (hex) of the path token: the token itself is shown once, when created or rotated. */
  @Column({ name: 'token_hash', type: 'varchar', length: 64, unique: true })
  tokenHash!: string;

  @Column({ name: 'allowed_buckets', type: 'simple-json' })
  allowedBuckets!: string[];

  /** Kept in clear (replicate keys included): running them needs them. Never logged or answered. */
  @Column({ type: 'simple-json' })
  actions!: S3Action[];

  @Column({ type: 'boolean', default: true })
  enabled!: boolean;
}

import { Column, Entity, Index } from 'typeorm';
import { WorkQueueRow } from '../work-core/work-queue-row.entity';

export enum ConnectorItemKind {
  /** Creates an alert (once: its Acronis id derives from the item id). */
  Alert = 'alert',
  /** Creates or updates the workload of a vendor key (see ConnectorWorkload). */
  Workload = 'workload',
  /** Dismisses the alert an earlier item created. */
  AlertDismissal = 'alert_dismissal',
  /** Deletes the workload of a vendor key. */
  WorkloadRemoval = 'workload_removal',
}

export enum ConnectorItemSource {
  Intake = 'intake',
  Demo = 'demo',
  /** Queued by the connector itself when a tenant stopped being mapped (CONNECTOR_CLEANUP_ON_UNMAP). */
  Cleanup = 'cleanup',
}

/** pending → sending (claimed) → sent | pending (retry later) | failed; pending → cancelled (an alert dismissed before it was sent). */
export enum ConnectorItemState {
  Pending = 'pending',
  Sending = 'sending',
  Sent = 'sent',
  Failed = 'failed',
  Cancelled = 'cancelled',
}

/**
 * One alert or workload to push to the Acronis tenant mapped to its organization. The id is the
 * item's stable identity across retries and restarts.
 */
@Entity('connector_items')
@Index('connector_items_due_idx', ['state', 'nextAttemptAt'])
@Index('connector_items_organization_created_idx', ['organizationId', 'createdAt'])
@Index('connector_items_idempotency_idx', ['organizationId', 'idempotencyKey'], { unique: true })
@Index('connector_items_created_idx', ['createdAt', 'id'])
@Index('connector_items_state_created_idx', ['state', 'createdAt', 'id'])
@Index('connector_items_organization_state_idx', ['organizationId', 'state'])
export class ConnectorItem extends WorkQueueRow<ConnectorItemState> {
  @Column({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: ConnectorItemKind;

  @Column({ type: 'varchar', length: 16 })
  source!: ConnectorItemSource;

  /** Client-supplied key for intake items (unique per organization); null for demo items. */
  @Column({ name: 'idempotency_key', type: 'varchar', length: 255, nullable: true })
  idempotencyKey!: string | null;

  /** sha256 of the submitted body: the same key with another body is refused. */
  @Column({ type: 'varchar', length: 64 })
  fingerprint!: string;

  /** The alert or workload as submitted, without tenant (added at send time). */
  @Column({ type: 'simple-json' })
  body!: Record<string, unknown>;

  @Column({ name: 'acronis_tenant_id', type: 'varchar', length: 36, nullable: true })
  acronisTenantId!: string | null;

  /** The data center the item was sent to (null: ACRONIS_DC_URL). */
  @Column({ name: 'acronis_dc_url', type: 'varchar', length: 255, nullable: true })
  acronisDcUrl!: string | null;

  /** A sent alert that has since been dismissed (by the vendor, or because its tenant was unmapped). */
  @Column({ name: 'dismissed_at', type: Date, nullable: true })
  dismissedAt!: Date | null;

  /** What the Acronis API answered with (the alert id, the workload id). */
  @Column({ name: 'remote_id', type: 'varchar', length: 255, nullable: true })
  remoteId!: string | null;

  @Column({ name: 'last_status', type: 'integer', nullable: true })
  lastStatus!: number | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  /** Why a pending item is not being sent (e.g. its organization is not mapped). */
  @Column({ name: 'waiting_reason', type: 'varchar', length: 255, nullable: true })
  waitingReason!: string | null;

  @Column({ name: 'sent_at', type: Date, nullable: true })
  sentAt!: Date | null;
}

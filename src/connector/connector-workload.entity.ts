import { Column, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { WorkloadBody } from './acronis-api.types';

/**
 * One vendor device as the connector keeps it in sync with an Acronis workload: what the vendor
 * wants (the latest submitted body, or deleted) and where it is at Acronis (tenant, data center,
 * workload id, and the fingerprint of what was last sent). Identified by the vendor's stable key
 * within the organization and workload type; the key also travels in a workload attribute
 * (CONNECTOR_WORKLOAD_KEY_ATTRIBUTE) so that a workload can be found again when its id is unknown
 * (the create call answers none).
 */
@Entity('connector_workloads')
@Index('connector_workloads_key_idx', ['organizationId', 'type', 'vendorKey'], { unique: true })
@Index('connector_workloads_tenant_idx', ['acronisTenantId'])
export class ConnectorWorkload {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;

  @Column({ type: 'varchar', length: 255 })
  type!: string;

  @Column({ name: 'vendor_key', type: 'varchar', length: 255 })
  vendorKey!: string;

  /** The latest body the vendor submitted (without the key attribute, added at send time). */
  @Column({ name: 'desired_body', type: 'simple-json' })
  desiredBody!: WorkloadBody;

  /** sha256 of the desired body: compared with `syncedFingerprint`. */
  @Column({ name: 'desired_fingerprint', type: 'varchar', length: 64 })
  desiredFingerprint!: string;

  /** The vendor deleted the device: the workload is to be deleted at Acronis. */
  @Column({ type: 'boolean', default: false })
  deleted!: boolean;

  /** The tenant the workload exists in at Acronis (as far as the gateway knows), or null. */
  @Column({ name: 'acronis_tenant_id', type: 'varchar', length: 36, nullable: true })
  acronisTenantId!: string | null;

  /** The data center of that tenant (null: ACRONIS_DC_URL). */
  @Column({ name: 'acronis_dc_url', type: 'varchar', length: 255, nullable: true })
  acronisDcUrl!: string | null;

  /** The Acronis workload id, once known (a create answers none: learnt by the next lookup). */
  @Column({ name: 'remote_id', type: 'varchar', length: 64, nullable: true })
  remoteId!: string | null;

  /** Fingerprint of the body last written to Acronis; null when nothing is known to be there. */
  @Column({ name: 'synced_fingerprint', type: 'varchar', length: 64, nullable: true })
  syncedFingerprint!: string | null;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt!: Date;
}

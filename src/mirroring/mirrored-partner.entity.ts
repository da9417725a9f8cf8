import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { MirroringSettings, MirroringState } from './mirroring-state';

/**
 * A partner organization enabled through `a.p.partner.mirroring.enable`: its state and what the
 * platform told about its Acronis tenant. The link the rest of the gateway uses is the
 * organization's `organizations_mapping` row; reset removes that and keeps this one, DISABLED.
 */
@Entity('mirrored_partners')
export class MirroredPartner {
  @PrimaryColumn({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;

  @Column({ type: 'varchar', length: 16 })
  state!: MirroringState;

  @Column({ name: 'acronis_tenant_id', type: 'varchar', length: 36 })
  acronisTenantId!: string;

  @Column({ name: 'acronis_tenant_name', type: 'varchar', length: 255 })
  acronisTenantName!: string;

  @Column({ type: 'simple-json', nullable: true })
  settings!: MirroringSettings | null;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt!: Date;
}

import { Column, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { MirroringSettings, MirroringState } from './mirroring-state';

/**
 * A customer organization a partner enabled through `a.p.customer.mirroring.set_state`. Enabled:
 * mapped to its Acronis tenant like any mapped customer. Disabled: unmapped, kept so that enabling
 * the same Acronis tenant again reuses the organization (and its users).
 */
@Entity('mirrored_customers')
@Index('mirrored_customers_partner_tenant_idx', ['partnerOrganizationId', 'acronisTenantId'])
export class MirroredCustomer {
  @PrimaryColumn({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;

  /** The organization whose set_state enabled it (the caller's). */
  @Column({ name: 'partner_organization_id', type: 'varchar', length: 36 })
  partnerOrganizationId!: string;

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

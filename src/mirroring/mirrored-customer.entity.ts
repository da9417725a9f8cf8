import { Column, Entity, Index } from 'typeorm';
import { MirroredOrganization } from './mirrored-organization.entity';

/**
 * A customer organization a partner enabled through `a.p.customer.mirroring.set_state`. Enabled:
 * mapped to its Acronis tenant like any mapped customer. Disabled: unmapped, kept so that enabling
 * the same Acronis tenant again reuses the organization (and its users).
 */
@Entity('mirrored_customers')
@Index('mirrored_customers_partner_tenant_idx', ['partnerOrganizationId', 'acronisTenantId'])
export class MirroredCustomer extends MirroredOrganization {
  /** The organization whose set_state enabled it (the caller's). */
  @Column({ name: 'partner_organization_id', type: 'varchar', length: 36 })
  partnerOrganizationId!: string;
}

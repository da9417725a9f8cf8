import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** Maps a vendor organization to its Acronis tenant (one each way). */
@Entity('organizations_mapping')
export class OrganizationMapping {
  @PrimaryColumn({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;

  @Column({ name: 'acronis_tenant_id', type: 'varchar', length: 36, unique: true })
  acronisTenantId!: string;

  @Column({ name: 'acronis_dc_url', type: 'varchar', length: 255, nullable: true })
  acronisDcUrl!: string | null;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt!: Date;
}

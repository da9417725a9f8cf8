import { Column, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { MirroringSettings, MirroringState } from './mirroring-state';

/** What a mirrored partner and a mirrored customer both keep: their state and their Acronis tenant. Not a table. */
export abstract class MirroredOrganization {
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

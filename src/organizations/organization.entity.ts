import { Column, Entity, PrimaryColumn } from 'typeorm';

export enum OrganizationKind {
  Partner = 'PARTNER',
  Customer = 'CUSTOMER',
}

/** A vendor-side organization. Partners may nest partners and customers; customers have no children. */
@Entity('organizations')
export class Organization {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'parent_id', type: 'varchar', length: 36, nullable: true })
  parentId!: string | null;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: OrganizationKind;
}

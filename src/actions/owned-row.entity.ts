import { Column, PrimaryColumn } from 'typeorm';

/** The first columns of a row that one organization owns (an action, a capability, a handler…). Not a table. */
export abstract class OwnedRow {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;
}

import { Column, Entity, Index } from 'typeorm';
import { OwnedRow } from './owned-row.entity';

/** What an action can ask for (HIRO's capability): a name and its parameter names. */
@Entity('action_capabilities')
@Index('action_capabilities_organization_name_idx', ['organizationId', 'name'], { unique: true })
export class ActionCapability extends OwnedRow {
  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ name: 'mandatory_parameters', type: 'simple-json' })
  mandatoryParameters!: string[];

  @Column({ name: 'optional_parameters', type: 'simple-json' })
  optionalParameters!: string[];

  @Column({ name: 'created_at', type: Date })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: Date })
  updatedAt!: Date;
}

import { Column, Entity, Index } from 'typeorm';
import { OwnedRow } from './owned-row.entity';

/** Which handler serves which capability, with extra parameters merged under the submitted ones. */
@Entity('action_applicabilities')
@Index('action_applicabilities_handler_capability_idx', ['handlerId', 'capabilityId'], { unique: true })
@Index('action_applicabilities_capability_idx', ['capabilityId'])
export class ActionApplicability extends OwnedRow {
  @Column({ name: 'handler_id', type: 'varchar', length: 36 })
  handlerId!: string;

  @Column({ name: 'capability_id', type: 'varchar', length: 36 })
  capabilityId!: string;

  @Column({ type: 'simple-json' })
  parameters!: Record<string, unknown>;

  @Column({ name: 'created_at', type: Date })
  createdAt!: Date;
}

import { Column, Entity, Index } from 'typeorm';
import { OwnedRow } from './owned-row.entity';

/**
 * pending → sent (submitAction written to a connection) → acknowledged (the handler's ack) →
 * completed (result stored); any of the first three → expired at `expires_at`, or failed when the
 * handler refuses the action (its negativeAcknowledged).
 */
export enum ActionState {
  Pending = 'pending',
  Sent = 'sent',
  Acknowledged = 'acknowledged',
  Completed = 'completed',
  Expired = 'expired',
  Failed = 'failed',
}

/** The states an action can still leave: it is (re)sent to its handler in these. */
export const OPEN_STATES = [ActionState.Pending, ActionState.Sent, ActionState.Acknowledged];

/** The durable ledger: one row per action, written before it is ever sent. */
@Entity('actions')
@Index('actions_handler_state_idx', ['handlerId', 'state'])
@Index('actions_state_expires_idx', ['state', 'expiresAt'])
@Index('actions_organization_submitted_idx', ['organizationId', 'submittedAt'])
export class Action extends OwnedRow {
  @Column({ name: 'handler_id', type: 'varchar', length: 36 })
  handlerId!: string;

  @Column({ type: 'varchar', length: 255 })
  capability!: string;

  @Column({ type: 'simple-json' })
  parameters!: Record<string, unknown>;

  @Column({ name: 'timeout_ms', type: 'integer' })
  timeoutMs!: number;

  @Column({ type: 'varchar', length: 16 })
  state!: ActionState;

  /** How many times submitAction was written to a connection. */
  @Column({ name: 'send_count', type: 'integer', default: 0 })
  sendCount!: number;

  /** The handler's result as JSON text: a string result exactly as received, an object result serialized. */
  @Column({ type: 'text', nullable: true })
  result!: string | null;

  @Column({ name: 'result_code', type: 'integer', nullable: true })
  resultCode!: number | null;

  @Column({ name: 'submitted_by', type: 'varchar', length: 255, nullable: true })
  submittedBy!: string | null;

  @Column({ name: 'submitted_at', type: Date })
  submittedAt!: Date;

  @Column({ name: 'sent_at', type: Date, nullable: true })
  sentAt!: Date | null;

  @Column({ name: 'acked_at', type: Date, nullable: true })
  ackedAt!: Date | null;

  @Column({ name: 'completed_at', type: Date, nullable: true })
  completedAt!: Date | null;

  @Column({ name: 'expires_at', type: Date })
  expiresAt!: Date;
}

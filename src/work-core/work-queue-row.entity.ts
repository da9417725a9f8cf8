import { Column, PrimaryColumn } from 'typeorm';
import { Timestamped } from '../database/timestamped.entity';

/**
 * The columns the work core leases by, alike in every queue table (`WorkQueueTable`, work-queue.ts),
 * for the table's entity to extend with its own `State` enum. Not a table.
 */
export abstract class WorkQueueRow<State extends string> extends Timestamped {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  state!: State;

  /** Attempts started, one per claim; also the claim's fencing token: every write after a claim is fenced by it. */
  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'next_attempt_at', type: Date })
  nextAttemptAt!: Date;

  /** While leased: the claim's expiry; a claim past it was abandoned (crash) and is taken again. */
  @Column({ name: 'locked_until', type: Date, nullable: true })
  lockedUntil!: Date | null;
}

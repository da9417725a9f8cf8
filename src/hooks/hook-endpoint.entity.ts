import { Column, Entity, PrimaryColumn } from 'typeorm';
import { HookFailurePolicy, HookOperation, HookPhase } from './hook-operation';
import { Timestamped } from '../database/timestamped.entity';

/**
 * The hook-specific half of a hook endpoint. The other half (owner, URL, secrets, TLS check,
 * enabled) is its `webhook_subscriptions` row of kind `hook`, with the same id, so that post-hooks
 * go through the delivery core unchanged.
 */
@Entity('hook_endpoints')
export class HookEndpoint extends Timestamped {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'simple-json' })
  operations!: HookOperation[];

  @Column({ type: 'varchar', length: 8 })
  phase!: HookPhase;

  @Column({ name: 'timeout_ms', type: 'integer' })
  timeoutMs!: number;

  @Column({ name: 'failure_policy', type: 'varchar', length: 16 })
  failurePolicy!: HookFailurePolicy;
}

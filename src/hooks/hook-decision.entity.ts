import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { HookDecisionOutcome, HookErrorClass, HookFailurePolicy, HookOperation } from './hook-operation';

/** One pre-hook's answer (or failure) to one operation, and what the gateway made of it. Kept after the hook is deleted. */
@Entity('hook_decisions')
@Index('hook_decisions_owner_idx', ['hookOrganizationId', 'createdAt'])
@Index('hook_decisions_hook_idx', ['hookId', 'createdAt'])
@Index('hook_decisions_created_idx', ['createdAt', 'id'])
export class HookDecision {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** Shared by the decisions of one operation's pre-hooks. */
  @Column({ name: 'call_id', type: 'varchar', length: 36 })
  callId!: string;

  @Column({ type: 'varchar', length: 64 })
  operation!: HookOperation;

  @Column({ name: 'hook_id', type: 'varchar', length: 36 })
  hookId!: string;

  /** The hook's owner: who may read the decision. */
  @Column({ name: 'hook_organization_id', type: 'varchar', length: 36 })
  hookOrganizationId!: string;

  /** The organization the operation was for. */
  @Column({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;

  /** The acting login (CCX's `auth_id`). */
  @Column({ name: 'auth_id', type: 'varchar', length: 255 })
  authId!: string;

  @Column({ type: 'varchar', length: 16 })
  outcome!: HookDecisionOutcome;

  /** The answer's `approved`; null when there was no valid answer. */
  @Column({ type: 'boolean', nullable: true })
  approved!: boolean | null;

  @Column({ name: 'work_id', type: 'varchar', length: 255, nullable: true })
  workId!: string | null;

  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode!: number | null;

  @Column({ name: 'error_class', type: 'varchar', length: 16, nullable: true })
  errorClass!: HookErrorClass | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ name: 'failure_policy', type: 'varchar', length: 16 })
  failurePolicy!: HookFailurePolicy;

  /** The outcome came from the failure policy, not from an answer. */
  @Column({ name: 'policy_applied', type: 'boolean' })
  policyApplied!: boolean;

  @Column({ name: 'latency_ms', type: 'integer' })
  latencyMs!: number;

  @Column({ name: 'created_at', type: Date })
  createdAt!: Date;
}

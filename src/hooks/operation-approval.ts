import { Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { WriteApproval } from '../callbacks/callback-handler.decorator';
import type { HookApprovalsService } from './hook-approvals.service';
import type { HookDecision } from './hook-decision.entity';
import { HookOperation, HookOutcome } from './hook-operation';

/** What an operation tells its hooks. */
export interface ApprovalRequest {
  operation: HookOperation;
  /** The organization the operation is for (hooks of it and of its ancestors are called). */
  organizationId: string;
  /** The acting login (CCX's `auth_id`). */
  authId: string;
  /** The operation's input, as the caller gave it (never a secret). */
  input: Record<string, unknown>;
}

/** The post-hook endpoint an approval knows of, with the `work_id` its pre-hook answered. */
export interface PostHookTarget {
  hookId: string;
  workId: string | null;
}

/**
 * An operation its pre-hooks approved: records their decisions with the operation and reports how
 * it ended to the post-hooks (durably, through the webhook delivery core). One per operation.
 */
export class OperationApproval implements WriteApproval {
  private readonly logger = new Logger(OperationApproval.name);
  private written = 0;

  constructor(
    private readonly hooks: HookApprovalsService,
    readonly request: ApprovalRequest,
    /** The post-hook endpoints found when the operation was approved. */
    readonly postHooks: PostHookTarget[],
    /** The pre-hooks' decisions, not yet recorded. */
    readonly decisions: HookDecision[],
  ) {}

  async succeeded(em: EntityManager, result: Record<string, unknown>): Promise<void> {
    await this.hooks.recordDecisions(em, this.decisions);
    this.written = await this.hooks.writePostHooks(em, this, HookOutcome.Succeeded, result);
  }

  committed(): void {
    if (this.written > 0) this.hooks.postHooksCommitted();
  }

  async failed(error: unknown): Promise<void> {
    if (this.postHooks.length === 0 && this.decisions.length === 0) return;
    try {
      await this.hooks.writeFailure(this, error);
    } catch (failure) {
      // The operation's own error is what the caller must see; this one is only logged.
      this.logger.error({ err: failure }, `post-hooks of a failed ${this.request.operation} could not be recorded`);
    }
  }
}

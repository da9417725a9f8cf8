import { Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { ApprovalRequest, WriteApproval } from '../callbacks/approval-gate';
import type { HookApprovalsService } from './hook-approvals.service';
import type { HookDecision } from './hook-decision.entity';
import { HookOutcome } from './hook-operation';

/** The post-hook endpoint an approval knows of, with the `work_id` its pre-hook answered. */
export interface PostHookTarget {
  hookId: string;
  workId: string | null;
}

/**
 * An operation its pre-hooks approved: records their decisions with the operation and reports how
 * it ended to the post-hooks (an outbox event, delivered by the webhook delivery core). One per operation.
 */
export class OperationApproval implements WriteApproval {
  private readonly logger = new Logger(OperationApproval.name);

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
    await this.hooks.writePostHooks(em, this, HookOutcome.Succeeded, result);
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

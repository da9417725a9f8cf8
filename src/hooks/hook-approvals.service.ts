import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditService } from '../audit/audit.service';
import type { ApprovalGate, ApprovalRequest } from '../callbacks/approval-gate';
import { DomainError, ErrorCode } from '../common/domain-error';
import { webhooksConfig, WebhooksConfig } from '../config/webhooks.config';
import { TransactionRunner } from '../database/transaction-runner.service';
import { OutboxService } from '../events/outbox.service';
import { inAncestry } from '../organizations/organization-tree';
import { sendTargetOf, TargetRow } from '../webhooks/delivery.worker';
import type { PostHookData } from '../webhooks/post-hook-deliveries';
import { WebhookSender } from '../webhooks/webhook-sender.service';
import { WebhookKind } from '../webhooks/webhook-subscription.entity';
import { cleanText, judgeAnswer, MAX_REASON } from './hook-answer';
import { HookDecision } from './hook-decision.entity';
import { HookDecisionOutcome, hookEventType, HookFailurePolicy, HookOutcome, HookPhase } from './hook-operation';
import { OperationApproval } from './operation-approval';

/** A hook endpoint as the approval path reads it: its subscription row joined with its hook settings. */
export interface EndpointRow extends TargetRow {
  operations: string;
  phase: HookPhase;
  timeout_ms: number | string;
  failure_policy: HookFailurePolicy;
}

/** The enabled hook endpoints whose owner passes `owner` (the organization and its ancestors, below). */
const endpointsSql = (owner: string): string => `SELECT s.id, s.organization_id, s.created_by, s.payload_url, s.secret, s.previous_secret, s.previous_secret_expires_at,
         s.ssl_verification, h.operations, h.phase, h.timeout_ms, h.failure_policy
    FROM webhook_subscriptions s JOIN hook_endpoints h ON h.id = s.id
   WHERE s.kind = :kind AND s.enabled = TRUE AND ${owner}
   ORDER BY s.created_at, s.id`;

/** What one operation's pre-hooks decided, in order of registration. */
export interface ApprovalResult {
  approved: boolean;
  decisions: HookDecision[];
}

/**
 * Approval hooks (issue 7, docs/protocols.md, approval hooks). Pre-hooks: before an operation changes anything, every
 * enabled endpoint registered (by the operation's organization or an ancestor) for it with phase
 * pre or both is POSTed `{operation, organization_id, auth_id, input}`, signed like a webhook, all
 * at once; each answer (or its failure, judged by the endpoint's failure policy) is recorded in
 * `hook_decisions`; any veto refuses the operation (403 FORBIDDEN, the reasons in the message).
 * Post-hooks: one outbox event per operation, written in its transaction (or, for a failed
 * operation, in one of their own after the rollback), which the dispatcher fans out to the hook
 * endpoints it names (src/webhooks/post-hook-deliveries.ts) and the delivery worker sends.
 * The callback service and the webhooks API reach this service as the {@link ApprovalGate}.
 */
@Injectable()
export class HookApprovalsService implements ApprovalGate {
  private readonly logger = new Logger(HookApprovalsService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly transactions: TransactionRunner,
    private readonly sender: WebhookSender,
    @Inject(webhooksConfig.KEY) private readonly webhooks: WebhooksConfig,
    private readonly audit: AuditService,
    private readonly outbox: OutboxService,
  ) {}

  /**
   * Asks the operation's pre-hooks; throws a 403 DomainError carrying the reasons when any vetoes.
   * The returned approval reports the outcome to the post-hooks.
   */
  async approve(request: ApprovalRequest): Promise<OperationApproval> {
    const endpoints = await this.endpointsFor(this.dataSource.manager, request.operation, request.organizationId);
    const pre = endpoints.filter((e) => e.phase !== HookPhase.Post);
    const { approved, decisions } = await this.ask(request, pre, false);
    if (!approved) {
      await this.transactions.run((em) => this.recordDecisions(em, decisions));
      throw new DomainError(ErrorCode.Forbidden, vetoMessage(decisions));
    }
    const workIds = new Map(decisions.map((d) => [d.hookId, d.workId]));
    const post = endpoints.filter((e) => e.phase !== HookPhase.Pre).map((e) => ({ hookId: e.id, workId: workIds.get(e.id) ?? null }));
    // An approval's decisions are written with the operation (its transaction, or its failure's): one commit less per operation.
    return new OperationApproval(this, request, post, decisions);
  }

  /**
   * Calls the pre-hooks (those given, or those registered) and, with `record`, records their
   * decisions at once; never throws on a veto. `hooks test` (the CLI) prints what it returns.
   */
  async ask(request: ApprovalRequest, endpoints?: EndpointRow[], record = true): Promise<ApprovalResult> {
    const pre = endpoints ?? (await this.endpointsFor(this.dataSource.manager, request.operation, request.organizationId)).filter((e) => e.phase !== HookPhase.Post);
    if (pre.length === 0) return { approved: true, decisions: [] };
    const callId = randomUUID();
    const body = Buffer.from(
      JSON.stringify({ operation: request.operation, organization_id: request.organizationId, auth_id: request.authId, input: request.input }),
      'utf8',
    );
    const decisions = await Promise.all(pre.map((endpoint) => this.call(request, endpoint, callId, body)));
    if (record) await this.transactions.run((em) => this.recordDecisions(em, decisions));
    return { approved: decisions.every((d) => d.outcome === HookDecisionOutcome.Approved), decisions };
  }

  async recordDecisions(em: EntityManager, decisions: HookDecision[]): Promise<void> {
    // Copies: TypeORM writes generated values back into the objects it was given.
    if (decisions.length === 0) return;
    await em.insert(HookDecision, decisions.map((d) => ({ ...d })));
    // The audit trail (src/audit): read by the hook's owner, as the decision log is; caused by the operation's record, if any.
    const causeId = this.outbox.causeOf(em);
    await this.audit.record(
      em,
      decisions.map((d) => ({
        at: d.createdAt,
        kind: AuditKind.HookDecision,
        name: d.operation,
        outcome: d.outcome === HookDecisionOutcome.Approved ? AuditOutcome.Ok : AuditOutcome.Failed,
        code: d.errorClass ?? d.outcome,
        organizationId: d.hookOrganizationId,
        actor: d.authId,
        workId: d.workId,
        causeId,
        durationMs: d.latencyMs,
        detail: { hook_id: d.hookId, decision_id: d.id, policy_applied: d.policyApplied },
      })),
    );
  }

  /**
   * Records the post-hooks of the operation in `em`'s transaction: one outbox event naming each
   * post-hook endpoint found at the approval with its pre-hook's `work_id`. The dispatcher sends
   * it to those still there and enabled when it fans the event out.
   */
  async writePostHooks(em: EntityManager, approval: OperationApproval, outcome: HookOutcome, result: Record<string, unknown>): Promise<void> {
    if (approval.postHooks.length === 0) return;
    const { request } = approval;
    const data: PostHookData = {
      hooks: approval.postHooks.map((p) => ({ id: p.hookId, fields: { work_id: p.workId } })),
      // The wire format's key order: `id` first, `work_id` (null here) replaced per endpoint, `created_at` last.
      body: { operation: request.operation, organization_id: request.organizationId, auth_id: request.authId, input: request.input, work_id: null, outcome, result },
    };
    await this.outbox.record(em, { type: hookEventType('post', request.operation), organizationId: request.organizationId, data });
  }

  /** The decisions and post-hooks of an operation that failed (its transaction rolled back), in a transaction of their own. */
  async writeFailure(approval: OperationApproval, error: unknown): Promise<void> {
    const result =
      error instanceof DomainError ? { code: error.code, message: error.message } : { code: ErrorCode.Internal, message: 'Internal error.' };
    await this.transactions.run(async (em) => {
      await this.recordDecisions(em, approval.decisions);
      await this.writePostHooks(em, approval, HookOutcome.Failed, result);
    });
  }

  private async endpointsFor(em: EntityManager, operation: string, organizationId: string): Promise<EndpointRow[]> {
    const owner = inAncestry('s.organization_id', organizationId);
    const [sql, params] = em.connection.driver.escapeQueryWithParameters(endpointsSql(owner.sql), { ...owner.params, kind: WebhookKind.Hook }, {});
    const rows: EndpointRow[] = await em.query(sql, params);
    return rows.filter((r) => (JSON.parse(r.operations) as string[]).includes(operation));
  }

  private async call(request: ApprovalRequest, endpoint: EndpointRow, callId: string, body: Buffer): Promise<HookDecision> {
    const id = randomUUID();
    const result = await this.sender.send(sendTargetOf(endpoint), { eventId: id, eventType: hookEventType('pre', request.operation), body }, Number(endpoint.timeout_ms));
    const judged = judgeAnswer(result, this.webhooks.responseBodyLimit);
    const policy = endpoint.failure_policy;
    const decision = Object.assign(new HookDecision(), {
      id,
      callId,
      operation: request.operation,
      hookId: endpoint.id,
      hookOrganizationId: endpoint.organization_id,
      organizationId: request.organizationId,
      authId: request.authId.slice(0, 255),
      failurePolicy: policy,
      latencyMs: Math.round(result.durationMs),
      statusCode: judged.status,
      createdAt: result.startedAt,
    });
    if (judged.ok) {
      if (!judged.answer.approved) {
        this.logger.warn(
          { hookId: endpoint.id, operation: request.operation, organizationId: request.organizationId, callId, workId: judged.answer.workId },
          `pre-hook ${endpoint.id} vetoed ${request.operation} for organization ${request.organizationId}: ${judged.answer.reason ?? 'no reason given'}`,
        );
      }
      return Object.assign(decision, {
        outcome: judged.answer.approved ? HookDecisionOutcome.Approved : HookDecisionOutcome.Rejected,
        approved: judged.answer.approved,
        workId: judged.answer.workId,
        reason: judged.answer.reason,
        errorClass: null,
        error: null,
        policyApplied: false,
      });
    }
    this.logger.warn(
      { hookId: endpoint.id, operation: request.operation, organizationId: request.organizationId, callId, errorClass: judged.errorClass, policy },
      `pre-hook ${endpoint.id} for ${request.operation} failed (${judged.errorClass}): ${policy === HookFailurePolicy.FailOpen ? 'approved by its fail-open policy' : 'vetoed by its fail-closed policy'}`,
    );
    return Object.assign(decision, {
      outcome: policy === HookFailurePolicy.FailOpen ? HookDecisionOutcome.Approved : HookDecisionOutcome.Rejected,
      approved: null,
      workId: null,
      reason: null,
      errorClass: judged.errorClass,
      error: cleanText(judged.error, MAX_REASON),
      policyApplied: true,
    });
  }
}

/** The caller learns each veto's reason, and which vetoes came from a hook that failed; never the hooks' addresses. */
function vetoMessage(decisions: HookDecision[]): string {
  const parts = decisions
    .filter((d) => d.outcome === HookDecisionOutcome.Rejected)
    .map((d) => (d.policyApplied ? `an approval hook failed (${d.errorClass ?? 'error'}) and its policy is fail-closed` : (d.reason ?? 'no reason given')));
  return `Rejected by approval hook: ${parts.join('; ')}`;
}

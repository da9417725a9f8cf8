import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { isLookupId } from '../common/ids';
import { confineToSubtree, isVisibleOrganization, newestAcrossSubtree, olderThanCursor } from '../organizations/organization-tree';
import { timeRangeOf } from '../webhooks/webhooks.dto';
import { assertOnePaging, assertVisibleOwner } from '../webhooks/webhook-subscriptions.service';
import { HookDecision } from './hook-decision.entity';
import { DECISIONS_LIMIT_DEFAULT, ListDecisionsQueryDto } from './hooks.dto';
import { DecisionPage, DecisionView } from './hooks.views';

export const DECISION_NOT_FOUND = 'Decision not found.';

export function decisionView(d: HookDecision): DecisionView {
  return {
    id: d.id,
    call_id: d.callId,
    operation: d.operation,
    hook_id: d.hookId,
    hook_organization_id: d.hookOrganizationId,
    organization_id: d.organizationId,
    auth_id: d.authId,
    outcome: d.outcome,
    approved: d.approved,
    work_id: d.workId,
    reason: d.reason,
    status_code: d.statusCode,
    error_class: d.errorClass,
    error: d.error,
    failure_policy: d.failurePolicy,
    policy_applied: d.policyApplied,
    latency_ms: d.latencyMs,
    created_at: d.createdAt.toISOString(),
  };
}

/**
 * The decisions log. A caller reads the decisions of the hooks its organization and its subtree
 * own (also of hooks deleted since): a hook's answers belong to whoever registered it.
 */
@Injectable()
export class HookDecisionsService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Newest first (`created_at`, then `id`), with the filters of the query; `before` (a visible
   * decision's id, else 400) pages by key. `count: false` leaves `total` out (no COUNT over the log).
   */
  async list(caller: VerifiedCaller, query: ListDecisionsQueryDto, options: { count?: boolean } = {}): Promise<DecisionPage> {
    const em = this.dataSource.manager;
    const { since, until } = timeRangeOf(query);
    assertOnePaging(query);
    if (query.organization_id !== undefined) await assertVisibleOwner(em, caller, query.organization_id);
    // The subtree condition is added by the count and the page below: the page reads each organization's newest decisions.
    const qb = em.createQueryBuilder(HookDecision, 'd');
    if (query.operation !== undefined) qb.andWhere('d.operation = :operation', { operation: query.operation });
    if (query.hook_id !== undefined) qb.andWhere('d.hook_id = :hookId', { hookId: query.hook_id });
    if (query.organization_id !== undefined) qb.andWhere('d.organization_id = :organizationId', { organizationId: query.organization_id });
    if (query.outcome !== undefined) qb.andWhere('d.outcome = :outcome', { outcome: query.outcome });
    if (query.policy_applied !== undefined) qb.andWhere('d.policy_applied = :policyApplied', { policyApplied: query.policy_applied });
    if (since) qb.andWhere('d.created_at >= :since', { since });
    if (until) qb.andWhere('d.created_at < :until', { until });
    if (query.before !== undefined) {
      await olderThanCursor(qb, caller, query.before, { timeColumn: 'created_at', owner: 'hookOrganizationId', refusal: 'Invalid request: query.before must be the id of a decision you can see.' });
    }
    const limit = query.limit ?? DECISIONS_LIMIT_DEFAULT;
    const owner = 'd.hook_organization_id';
    const total = options.count === false ? undefined : await confineToSubtree(qb.clone(), owner, caller.organizationId).getCount();
    // One hook's decisions are one range of the hook index already; offsets page the plain way.
    const rows =
      query.offset || query.hook_id !== undefined
        ? await confineToSubtree(qb, owner, caller.organizationId).orderBy('d.created_at', 'DESC').addOrderBy('d.id', 'DESC').limit(limit + 1).offset(query.offset).getMany()
        : await newestAcrossSubtree(qb, { root: caller.organizationId, organizationColumn: owner, timeColumn: 'd.created_at', timeProperty: 'createdAt', limit: limit + 1 });
    const page = rows.slice(0, limit);
    return { items: page.map(decisionView), ...(total === undefined ? {} : { total }), next_before: rows.length > limit ? page[page.length - 1].id : null };
  }

  /** One decision of the caller's hooks; another organization's is as unknown as a missing one (404). */
  async get(caller: VerifiedCaller, id: string): Promise<DecisionView> {
    const em = this.dataSource.manager;
    const decision = isLookupId(id) ? await em.findOneBy(HookDecision, { id }) : null;
    if (!decision || !(await isVisibleOrganization(em, caller, decision.hookOrganizationId))) throw new DomainError(ErrorCode.NotFound, DECISION_NOT_FOUND);
    return decisionView(decision);
  }
}

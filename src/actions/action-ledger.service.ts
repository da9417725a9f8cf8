import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditService } from '../audit/audit.service';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { Subject } from 'rxjs';
import { DataSource, EntityManager, In, LessThanOrEqual, MoreThan, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { actionsConfig, ActionsConfig } from '../config/actions.config';
import { TransactionRunner } from '../database/transaction-runner.service';
import { OutboxService } from '../events/outbox.service';
import { confineToSubtree, newestAcrossSubtree, olderThanCursor } from '../organizations/organization-tree';
import { ActionApplicability } from './action-applicability.entity';
import { ActionCapability } from './action-capability.entity';
import { ActionConnectionRegistry } from './action-connection-registry.service';
import type { ActionResult } from './action-frames';
import { ActionHandler } from './action-handler.entity';
import { findVisible, lockFor, ownerFor } from './action-lookup';
import { Action, ActionState, OPEN_STATES } from './action.entity';
import { LIMIT_DEFAULT, ListActionsQueryDto, SubmitActionDto } from './actions.dto';
import { ActionPage, ActionView } from './actions.views';
import { GroupCommit } from '../database/group-commit';
import { queueFigures, QueueFigures } from '../common/state-counts';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** A conditional UPDATE of one action: true when it changed the row (the state was still one it may leave). */
async function changeOne(em: EntityManager, set: QueryDeepPartialEntity<Action>, where: string, params: ObjectLiteral): Promise<boolean> {
  const result = await em.createQueryBuilder().update(Action).set(set).where(where, params).execute();
  return (result.affected ?? 0) === 1;
}

export function actionView(a: Action): ActionView {
  return {
    id: a.id,
    organization_id: a.organizationId,
    handler_id: a.handlerId,
    capability: a.capability,
    parameters: a.parameters,
    timeout_ms: a.timeoutMs,
    state: a.state,
    send_count: a.sendCount,
    result: a.result === null ? null : (JSON.parse(a.result) as ActionResult),
    result_code: a.resultCode,
    submitted_by: a.submittedBy,
    submitted_at: a.submittedAt.toISOString(),
    sent_at: iso(a.sentAt),
    acked_at: iso(a.ackedAt),
    completed_at: iso(a.completedAt),
    expires_at: a.expiresAt.toISOString(),
  };
}

/** What became of a handler's result. */
export enum ResultOutcome {
  Stored = 'stored',
  /** The action already has its result: the first one stays. */
  Duplicate = 'duplicate',
  /** The action expired (now or before): the result is dropped. */
  Expired = 'expired',
  /** The handler refused the action earlier (failed). */
  Closed = 'closed',
  /** No such action for this handler (unknown id, another handler's or another organization's). */
  Unknown = 'unknown',
}

export const EVENT_COMPLETED = 'action.completed';
export const EVENT_EXPIRED = 'action.expired';
export const EVENT_FAILED = 'action.failed';
/** Results up to this size are copied into their `action.completed` event. */
const EVENT_RESULT_MAX_CHARS = 65_536;
/** Bound of the per-process action metadata cache (oldest dropped first; a miss costs one read). */
const META_MAX = 100_000;

/** The states the overview counts. */
export const ACTION_QUEUE_STATES = [ActionState.Pending, ActionState.Sent, ActionState.Acknowledged, ActionState.Failed] as const;

/**
 * The durable action ledger. An action is written (pending) before it is ever sent; every state
 * change is a conditional UPDATE on the states it may leave, so two replicas or two frames cannot
 * both make it; results, expiries and refusals record their event (`action.completed`,
 * `action.expired`, `action.failed`) in the same transaction.
 */
@Injectable()
export class ActionLedgerService {
  /** Emits after a submit commits, so that the channel sends at once when the handler is connected here. */
  readonly submitted$ = new Subject<Action>();
  private readonly channelWrites: GroupCommit;
  private readonly meta = new Map<string, Pick<Action, 'organizationId' | 'capability'>>();

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly outbox: OutboxService,
    private readonly connections: ActionConnectionRegistry,
    @Inject(actionsConfig.KEY) private readonly config: ActionsConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {
    this.channelWrites = new GroupCommit(transactions);
  }

  /** The action's audit record (docs/audit.md), in the transaction that changes it. */
  private recordAudit(
    em: EntityManager,
    action: Pick<Action, 'id' | 'organizationId' | 'capability'>,
    code: 'submitted' | 'completed' | 'refused' | 'expired',
    detail: Record<string, unknown>,
    actor: string | null = null,
  ): Promise<void> {
    const failed = code === 'refused' || code === 'expired';
    return this.audit.record(em, [
      { kind: AuditKind.Action, name: action.capability, outcome: failed ? AuditOutcome.Failed : AuditOutcome.Ok, code, organizationId: action.organizationId, actionId: action.id, actor, detail },
    ]);
  }

  /** Submits through the API: validated, written, and handed to the channel once committed. */
  async submit(caller: VerifiedCaller, dto: SubmitActionDto): Promise<ActionView> {
    const em = this.dataSource.manager;
    // Checked outside the write: the insert alone joins the channel's group commit.
    const action = await this.prepare(em, await ownerFor(em, caller, dto.organization_id), dto, caller.login);
    await this.channelWrites.run((tx) => this.insert(tx, action));
    this.announce(action);
    return actionView(action);
  }

  /** Tells the channel about an action committed by someone else's transaction (the callback). */
  announce(action: Action): void {
    this.remember(action);
    this.submitted$.next(action);
  }

  /**
   * Validates the submit against the organization's capability (mandatory parameters present, no
   * unknown ones), chooses the handler, and writes the pending action with `em`.
   */
  async write(em: EntityManager, organizationId: string, dto: SubmitActionDto, submittedBy: string | null): Promise<Action> {
    const action = await this.prepare(em, organizationId, dto, submittedBy);
    await this.insert(em, action);
    return action;
  }

  private async insert(em: EntityManager, action: Action): Promise<void> {
    // simple-json columns are serialized by TypeORM; its partial-entity type cannot express that.
    await em.insert(Action, { ...action, parameters: { ...action.parameters } } as QueryDeepPartialEntity<Action>);
    await this.recordAudit(em, action, 'submitted', { handler_id: action.handlerId }, action.submittedBy);
  }

  /** The checked, not yet written action. */
  private async prepare(em: EntityManager, organizationId: string, dto: SubmitActionDto, submittedBy: string | null): Promise<Action> {
    const { capability, handlerId, parameters: extra } = await this.capabilityAndHandler(em, organizationId, dto.capability, dto.handler_id);
    const parameters = { ...extra, ...(dto.parameters ?? {}) };
    const known = new Set([...capability.mandatoryParameters, ...capability.optionalParameters]);
    const missing = capability.mandatoryParameters.filter((name) => parameters[name] === undefined || parameters[name] === null);
    if (missing.length > 0) throw new DomainError(ErrorCode.ValidationFailed, `Missing mandatory parameters: ${missing.join(', ')}.`);
    const unknown = Object.keys(dto.parameters ?? {}).filter((name) => !known.has(name));
    if (unknown.length > 0) throw new DomainError(ErrorCode.ValidationFailed, `Unknown parameters for ${capability.name}: ${unknown.join(', ')}.`);
    const now = new Date();
    const timeoutMs = dto.timeout_ms ?? this.config.defaultTimeoutMs;
    // Connected here: written as sent and sent once committed (no claim needed, saving a commit).
    // If the frame never leaves, the action is open and goes out again when the handler reconnects.
    const sendNow = this.connections.isConnected(handlerId);
    return Object.assign(new Action(), {
      id: randomUUID(),
      organizationId,
      handlerId,
      capability: capability.name,
      parameters,
      timeoutMs,
      state: sendNow ? ActionState.Sent : ActionState.Pending,
      sendCount: sendNow ? 1 : 0,
      result: null,
      resultCode: null,
      submittedBy,
      submittedAt: now,
      sentAt: sendNow ? now : null,
      ackedAt: null,
      completedAt: null,
      expiresAt: new Date(now.getTime() + timeoutMs),
    });
  }

  /**
   * The capability by name, and the handler to send to: the named one if it serves the capability;
   * otherwise one that does, preferring one connected to this process, then the oldest
   * applicability. Revoked handlers are never chosen. One query (capability, applicabilities and
   * live handlers joined): the submit path is hot.
   */
  private async capabilityAndHandler(
    em: EntityManager,
    organizationId: string,
    name: string,
    handlerId: string | undefined,
  ): Promise<{ capability: Pick<ActionCapability, 'name' | 'mandatoryParameters' | 'optionalParameters'>; handlerId: string; parameters: Record<string, unknown> }> {
    const rows = await em
      .createQueryBuilder(ActionCapability, 'c')
      .leftJoin(ActionApplicability, 'a', 'a.capability_id = c.id')
      .leftJoin(ActionHandler, 'h', 'h.id = a.handler_id AND h.revoked_at IS NULL')
      .select(['c.name AS c_name', 'c.mandatory_parameters AS c_mandatory', 'c.optional_parameters AS c_optional', 'a.parameters AS a_parameters', 'h.id AS h_id'])
      .where('c.organization_id = :organizationId AND c.name = :name', { organizationId, name })
      .orderBy('a.created_at', 'ASC')
      .addOrderBy('a.id', 'ASC')
      .getRawMany<{ c_name: string; c_mandatory: string; c_optional: string; a_parameters: string | null; h_id: string | null }>();
    if (rows.length === 0) throw new DomainError(ErrorCode.NotFound, `Capability ${name} not found in the organization.`);
    const capability = { name: rows[0].c_name, mandatoryParameters: JSON.parse(rows[0].c_mandatory) as string[], optionalParameters: JSON.parse(rows[0].c_optional) as string[] };
    const candidates = rows.filter((r): r is typeof r & { h_id: string } => r.h_id !== null);
    const chosen =
      handlerId !== undefined
        ? candidates.find((r) => r.h_id === handlerId)
        : (candidates.find((r) => this.connections.isConnected(r.h_id)) ?? candidates[0]);
    if (!chosen) {
      throw new DomainError(ErrorCode.ValidationFailed, handlerId !== undefined ? `Handler ${handlerId} does not serve ${name}.` : `No handler serves ${name}.`);
    }
    return { capability, handlerId: chosen.h_id, parameters: chosen.a_parameters ? (JSON.parse(chosen.a_parameters) as Record<string, unknown>) : {} };
  }

  /** The overview's figures: open and failed actions, and actions submitted since `since`, each counted up to `cap`. */
  async figures(caller: VerifiedCaller, since: Date, cap: number): Promise<QueueFigures<(typeof ACTION_QUEUE_STATES)[number]>> {
    const visible = () => confineToSubtree(this.dataSource.manager.createQueryBuilder(Action, 'a'), 'a.organization_id', caller.organizationId);
    return queueFigures(visible, 'a', ACTION_QUEUE_STATES, 'submitted_at', since, cap);
  }

  /**
   * Newest first (`submitted_at`, then `id`), with the filters of the query and its total. `before`
   * (a visible action's id, else 400) pages by key: the actions after it in that order.
   */
  async list(caller: VerifiedCaller, query: ListActionsQueryDto): Promise<ActionPage> {
    const [rows, total] = await (await this.filtered(caller, query))
      .limit(query.limit ?? LIMIT_DEFAULT)
      .offset(query.offset ?? 0)
      .getManyAndCount();
    return { items: rows.map(actionView), total };
  }

  /**
   * One page by key, as {@link list} without `offset` and without a total (no count over a large
   * ledger): `more` says whether older ones follow. Across the subtree, each organization's newest
   * actions are read on its own index range and merged (newestAcrossSubtree): one
   * `IN (subtree) ORDER BY` would sort every action of the subtree to find the newest few.
   */
  async page(caller: VerifiedCaller, query: ListActionsQueryDto): Promise<{ items: ActionView[]; more: boolean }> {
    if (query.offset !== undefined) throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: page by before, not offset.');
    const limit = query.limit ?? LIMIT_DEFAULT;
    const rows =
      query.organization_id !== undefined
        ? await (await this.filtered(caller, query)).limit(limit + 1).getMany()
        : await newestAcrossSubtree(await this.filtered(caller, query, false), {
            root: caller.organizationId,
            organizationColumn: 'a.organization_id',
            timeColumn: 'a.submitted_at',
            timeProperty: 'submittedAt',
            limit: limit + 1,
          });
    return { items: rows.slice(0, limit).map(actionView), more: rows.length > limit };
  }

  /** The query's actions, newest first; without `confine`, no subtree condition unless the query names an organization (newestAcrossSubtree adds its own). */
  private async filtered(caller: VerifiedCaller, query: ListActionsQueryDto, confine = true): Promise<SelectQueryBuilder<Action>> {
    if (query.before !== undefined && query.offset !== undefined) throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: before and offset cannot be used together.');
    const em = this.dataSource.manager;
    const qb = em.createQueryBuilder(Action, 'a');
    if (query.organization_id !== undefined) qb.where('a.organization_id = :organizationId', { organizationId: await ownerFor(em, caller, query.organization_id) });
    else if (confine) confineToSubtree(qb, 'a.organization_id', caller.organizationId);
    if (query.handler_id !== undefined) qb.andWhere('a.handler_id = :handlerId', { handlerId: query.handler_id });
    if (query.state !== undefined) qb.andWhere('a.state = :state', { state: query.state });
    if (query.capability !== undefined) qb.andWhere('a.capability = :capability', { capability: query.capability });
    if (query.before !== undefined) {
      await olderThanCursor(qb, caller, query.before, { timeColumn: 'submitted_at', owner: 'organizationId', refusal: 'Invalid request: before must be the id of an action you can see.' });
    }
    return qb.orderBy('a.submitted_at', 'DESC').addOrderBy('a.id', 'DESC');
  }

  async get(caller: VerifiedCaller, id: string): Promise<ActionView> {
    return actionView(await findVisible(this.dataSource.manager, caller, Action, id, 'Action'));
  }

  /** The handler's open, unexpired actions, oldest first: what a (re)connecting handler is sent. */
  openFor(handlerId: string): Promise<Action[]> {
    return this.dataSource.manager.find(Action, {
      where: { handlerId, state: In(OPEN_STATES), expiresAt: MoreThan(new Date()) },
      order: { submittedAt: 'ASC', id: 'ASC' },
    });
  }

  pendingFor(handlerIds: string[], limit: number): Promise<Action[]> {
    if (handlerIds.length === 0) return Promise.resolve([]);
    return this.dataSource.manager.find(Action, {
      where: { handlerId: In(handlerIds), state: ActionState.Pending, expiresAt: MoreThan(new Date()) },
      order: { submittedAt: 'ASC', id: 'ASC' },
      take: limit,
    });
  }

  /**
   * Sent or acknowledged, unexpired actions of these handlers last sent at or before `sentBefore`,
   * longest waiting first: still without a result although the handler had time to answer.
   */
  unansweredFor(handlerIds: string[], sentBefore: Date, limit: number): Promise<Action[]> {
    if (handlerIds.length === 0) return Promise.resolve([]);
    return this.dataSource.manager.find(Action, {
      where: { handlerId: In(handlerIds), state: In([ActionState.Sent, ActionState.Acknowledged]), sentAt: LessThanOrEqual(sentBefore), expiresAt: MoreThan(new Date()) },
      order: { sentAt: 'ASC', id: 'ASC' },
      take: limit,
    });
  }

  /**
   * Records that the action is being written to a connection: pending → sent, or a resend of a
   * sent or acknowledged one. False when it is no longer in the expected state (someone else sent
   * it, or it closed).
   */
  async markSent(action: Action): Promise<boolean> {
    const expected = action.state === ActionState.Pending ? [ActionState.Pending] : [ActionState.Sent, ActionState.Acknowledged];
    const state = action.state === ActionState.Pending ? ActionState.Sent : action.state;
    const now = new Date();
    const set = { state, sentAt: now, sendCount: () => 'send_count + 1' };
    if (!(await this.channelWrites.run((em) => changeOne(em, set, 'id = :id AND state IN (:...expected)', { id: action.id, expected })))) return false;
    Object.assign(action, { state, sentAt: now, sendCount: action.sendCount + 1 });
    this.remember(action);
    return true;
  }

  /**
   * Undoes a submit's "sent" when its handler's connection here went away before the commit: the
   * handler may have reconnected to another replica meanwhile, which only polls pending actions.
   */
  async unsend(action: Action): Promise<void> {
    const set = { state: ActionState.Pending, sentAt: null, sendCount: 0 };
    await this.channelWrites.run((em) => changeOne(em, set, 'id = :id AND state = :sent AND send_count = 1', { id: action.id, sent: ActionState.Sent }));
  }

  /** The handler's `acknowledged`: pending or sent → acknowledged. Anything else (late, duplicate, unknown) changes nothing. */
  async acknowledge(handlerId: string, id: string): Promise<boolean> {
    const expected = [ActionState.Pending, ActionState.Sent];
    return this.channelWrites.run((em) =>
      changeOne(em, { state: ActionState.Acknowledged, ackedAt: new Date() }, 'id = :id AND handler_id = :handlerId AND state IN (:...expected)', { id, handlerId, expected }),
    );
  }

  /** Stores the handler's result once (the first one wins) with its `action.completed` event. */
  async storeResult(handlerId: string, id: string, text: string, result: ActionResult): Promise<ResultOutcome> {
    const outcome = await this.channelWrites.run(async (em) => {
      const now = new Date();
      const changes = { state: ActionState.Completed, result: text, resultCode: result.code, completedAt: now };
      // The usual case in one statement: the handler's own open, unexpired action.
      const updated = await changeOne(em, changes, 'id = :id AND handler_id = :handlerId AND state IN (:...open) AND expires_at > :now', { id, handlerId, open: OPEN_STATES, now });
      let action: Pick<Action, 'organizationId' | 'capability'> | undefined = this.meta.get(id);
      if (!updated) {
        const open = await this.openOf(em, handlerId, id);
        if (typeof open === 'string') return open;
        // Open after all (the statement above raced a concurrent change that left it open): complete it here.
        await em.update(Action, { id }, changes);
        action = open;
      }
      action ??= await em.findOneOrFail(Action, { select: { organizationId: true, capability: true }, where: { id } });
      await this.recordAudit(em, { id, ...action }, 'completed', { handler_id: handlerId, result_code: result.code });
      await this.outbox.record(em, {
        type: EVENT_COMPLETED,
        organizationId: action.organizationId,
        data: {
          action_id: id,
          handler_id: handlerId,
          capability: action.capability,
          result_code: result.code,
          // Large results stay in the ledger (GET /api/actions/:id): every webhook delivery would copy them.
          ...(text.length <= EVENT_RESULT_MAX_CHARS ? { result } : { result: { code: result.code, message: result.message.slice(0, 1024) }, result_truncated: true }),
        },
      });
      return ResultOutcome.Stored;
    });
    if (outcome !== ResultOutcome.Unknown) this.meta.delete(id);
    return outcome;
  }

  /** Organization and capability of actions submitted or sent by this process, so that storing a result needs no read. */
  remember(action: Action): void {
    if (this.meta.size >= META_MAX) this.meta.delete(this.meta.keys().next().value as string);
    this.meta.set(action.id, { organizationId: action.organizationId, capability: action.capability });
  }

  /** The handler's `negativeAcknowledged` for a submitted action: it will not run it (failed, `action.failed`). */
  async refuse(handlerId: string, id: string, code: number, message: string): Promise<ResultOutcome> {
    return this.channelWrites.run(async (em) => {
      const action = await this.openOf(em, handlerId, id);
      if (typeof action === 'string') return action;
      const result = JSON.stringify({ code, message });
      await em.update(Action, { id }, { state: ActionState.Failed, result, resultCode: code, completedAt: new Date() });
      await this.recordAudit(em, action, 'refused', { handler_id: handlerId, result_code: code });
      await this.outbox.record(em, {
        type: EVENT_FAILED,
        organizationId: action.organizationId,
        data: { action_id: id, handler_id: handlerId, capability: action.capability, result_code: code, result: { code, message } },
      });
      return ResultOutcome.Stored;
    });
  }

  /**
   * The handler's open action, locked; or why there is none. An open action past its expiry is
   * expired here (with its event), so a late result never beats the sweep to it.
   */
  private async openOf(em: EntityManager, handlerId: string, id: string): Promise<Action | ResultOutcome> {
    const action = await em.findOne(Action, { where: { id }, ...lockFor<Action>(em) });
    if (!action || action.handlerId !== handlerId) return ResultOutcome.Unknown;
    if (action.state === ActionState.Completed) return ResultOutcome.Duplicate;
    if (action.state === ActionState.Expired) return ResultOutcome.Expired;
    if (action.state === ActionState.Failed) return ResultOutcome.Closed;
    if (action.expiresAt.getTime() <= Date.now()) {
      await this.expireOne(em, action);
      return ResultOutcome.Expired;
    }
    return action;
  }

  /** Marks open actions past their expiry as expired, each with its `action.expired` event. Returns how many. */
  async expireDue(limit = 500): Promise<number> {
    const due = await this.dataSource.manager.find(Action, {
      select: { id: true },
      where: { state: In(OPEN_STATES), expiresAt: LessThanOrEqual(new Date()) },
      order: { expiresAt: 'ASC' },
      take: limit,
    });
    if (due.length === 0) return 0;
    return this.transactions.run(async (em) => {
      let expired = 0;
      for (const { id } of due) {
        const action = await em.findOne(Action, { where: { id }, ...lockFor<Action>(em) });
        if (action && OPEN_STATES.includes(action.state) && (await this.expireOne(em, action))) expired += 1;
      }
      return expired;
    });
  }

  private async expireOne(em: EntityManager, action: Action): Promise<boolean> {
    if (!(await changeOne(em, { state: ActionState.Expired, completedAt: new Date() }, 'id = :id AND state IN (:...open)', { id: action.id, open: OPEN_STATES }))) return false;
    await this.recordAudit(em, action, 'expired', { handler_id: action.handlerId, last_state: action.state, send_count: action.sendCount });
    await this.outbox.record(em, {
      type: EVENT_EXPIRED,
      organizationId: action.organizationId,
      data: { action_id: action.id, handler_id: action.handlerId, capability: action.capability, last_state: action.state, send_count: action.sendCount },
    });
    return true;
  }
}

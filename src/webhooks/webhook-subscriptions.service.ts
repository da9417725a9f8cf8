import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager, FindOneOptions, IsNull, SelectQueryBuilder } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { isLookupId } from '../common/ids';
import { webhooksConfig, WebhooksConfig } from '../config/webhooks.config';
import { TransactionRunner } from '../database/transaction-runner.service';
import { APPROVAL_GATE, ApprovalGate, runApproved } from '../callbacks/approval-gate';
import { HookOperation } from '../hooks/hook-operation';
import { Organization } from '../organizations/organization.entity';
import { confineToSubtree, isVisibleOrganization, olderThanCursor } from '../organizations/organization-tree';
import { executeSql } from '../database/raw-sql';
import { DeliverySignal } from './delivery-signal.service';
import { UrlPolicy } from './url-policy';
import { DeliveryState } from './webhook-delivery.entity';
import { generateSecret } from './webhook-signer';
import { WebhookSender } from './webhook-sender.service';
import { WebhookFilter, WebhookKind, WebhookScope, WebhookSubscription } from './webhook-subscription.entity';
import {
  CreateSubscriptionDto,
  ListSubscriptionsQueryDto,
  RotateSecretDto,
  SUBSCRIPTIONS_LIMIT_DEFAULT,
  UpdateSubscriptionDto,
  WebhookFilterDto,
} from './webhooks.dto';
import { SubscriptionPage, SubscriptionView, SubscriptionWithSecretView, TestDeliveryView } from './webhooks.views';

export const FOREIGN_ORGANIZATION = 'organization_id is not your organization or one below it.';
const SUBSCRIPTION_NOT_FOUND = 'Webhook subscription not found.';
const GLOBAL_REFUSED =
  'Scope Global is only for subscriptions of the root organization (the only one without a parent), created by one of its users.';
/** The body of a test delivery when the caller gives none (CloudStack's). */
export const TEST_PAYLOAD = { CloudStack: 'works!' };
export const TEST_EVENT_TYPE = 'TEST.WEBHOOK';

export function subscriptionView(s: WebhookSubscription): SubscriptionView {
  return {
    id: s.id,
    organization_id: s.organizationId,
    name: s.name,
    description: s.description,
    payload_url: s.payloadUrl,
    ssl_verification: s.sslVerification,
    enabled: s.enabled,
    disabled_reason: s.disabledReason,
    disabled_at: s.disabledAt ? s.disabledAt.toISOString() : null,
    failing_since: s.failingSince ? s.failingSince.toISOString() : null,
    scope: s.scope,
    filters: s.filters.map((f) => ({ mode: f.mode, match: f.match, value: f.value })),
    created_by: s.createdBy,
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
    has_secret: s.secret !== null,
    previous_secret_expires_at: s.previousSecretExpiresAt ? s.previousSecretExpiresAt.toISOString() : null,
  };
}

function withSecret(s: WebhookSubscription): SubscriptionWithSecretView {
  // Every subscription created or rotated through the API has a secret.
  return { ...subscriptionView(s), secret: s.secret ?? '' };
}

/** A secret rotation's changes: the new secret (given, else generated); the current one keeps signing for `overlapMs` (0: not at all). */
export function rotatedSecret(current: string | null, given: string | undefined, overlapMs: number): Partial<WebhookSubscription> {
  const now = new Date();
  const overlap = overlapMs > 0 && current !== null;
  return {
    secret: given ?? generateSecret(),
    previousSecret: overlap ? current : null,
    previousSecretExpiresAt: overlap ? new Date(now.getTime() + overlapMs) : null,
    updatedAt: now,
  };
}

/** What approval hooks see of a subscription change: the fields given, never the secret. */
function hookInput(dto: CreateSubscriptionDto | UpdateSubscriptionDto): Record<string, unknown> {
  const { secret, ...rest } = dto;
  const input: Record<string, unknown> = JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
  if (secret !== undefined) input.secret_given = true;
  return input;
}

const filtersOf = (dtos: WebhookFilterDto[]): WebhookFilter[] => dtos.map((f) => ({ mode: f.mode, match: f.match, value: f.value }));

/** 403 unless the organization is the caller's or one below it (unknown ones alike). */
export async function assertVisibleOwner(em: EntityManager, caller: VerifiedCaller, organizationId: string): Promise<void> {
  if (!(await isVisibleOrganization(em, caller, organizationId))) throw new DomainError(ErrorCode.Forbidden, FOREIGN_ORGANIZATION);
}

/** A list pages by key (`before`) or by offset, not both (400). */
export function assertOnePaging(query: { before?: string; offset?: number }): void {
  if (query.before !== undefined && query.offset !== undefined) {
    throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: query.before and query.offset cannot be used together.');
  }
}

/**
 * The subscriptions of `kind` a list query asks for, newest first (`created_at`, then `id`): of one
 * organization of the caller's subtree (403 otherwise) or of all of them; `before` (the id of `what`
 * the caller can see, else 400) pages by key.
 */
export async function visibleSubscriptions(
  em: EntityManager, caller: VerifiedCaller, query: ListSubscriptionsQueryDto, kind: WebhookKind, what: string,
): Promise<SelectQueryBuilder<WebhookSubscription>> {
  if (query.organization_id !== undefined) await assertVisibleOwner(em, caller, query.organization_id);
  const qb = em.createQueryBuilder(WebhookSubscription, 's').where('s.kind = :kind', { kind });
  if (query.organization_id !== undefined) qb.andWhere('s.organization_id = :organizationId', { organizationId: query.organization_id });
  else confineToSubtree(qb, 's.organization_id', caller.organizationId);
  if (query.enabled !== undefined) qb.andWhere('s.enabled = :enabled', { enabled: query.enabled });
  if (query.before !== undefined) {
    assertOnePaging(query);
    const refusal = `Invalid request: query.before must be the id of ${what} you can see.`;
    await olderThanCursor(qb, caller, query.before, { timeColumn: 'created_at', owner: 'organizationId', where: { kind }, refusal });
  }
  return qb.orderBy('s.created_at', 'DESC').addOrderBy('s.id', 'DESC');
}

/** A row lock on PostgreSQL; SQLite serializes its transactions and has no row locks. */
export function lockFor<T>(em: EntityManager): Pick<FindOneOptions<T>, 'lock'> {
  return em.connection.options.type === 'postgres' ? { lock: { mode: 'pessimistic_write' } } : {};
}

/**
 * Webhook subscriptions (docs/architecture.md, flow 2): CRUD, secret rotation and test deliveries, confined to the
 * caller's organization and its subtree. Payload URLs are checked by the {@link UrlPolicy} before
 * anything is stored (outside the transaction: it resolves DNS).
 */
@Injectable()
export class WebhookSubscriptionsService {
  private readonly urls: UrlPolicy;

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly sender: WebhookSender,
    @Inject(webhooksConfig.KEY) private readonly config: WebhooksConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APPROVAL_GATE) private readonly gate: ApprovalGate,
    private readonly signal: DeliverySignal,
  ) {
    this.urls = new UrlPolicy(config.allowedPrivate);
  }

  async create(caller: VerifiedCaller, dto: CreateSubscriptionDto): Promise<SubscriptionWithSecretView> {
    const organizationId = dto.organization_id ?? caller.organizationId;
    const scope = dto.scope ?? WebhookScope.Local;
    const sslVerification = dto.ssl_verification ?? true;
    // Who may own it is checked before the URL, so that a foreign caller learns nothing from DNS.
    await this.checkOwner(this.dataSource.manager, caller, organizationId, scope);
    await this.urls.checkUrl(dto.payload_url, sslVerification);
    const now = new Date();
    const row = Object.assign(new WebhookSubscription(), {
      id: randomUUID(),
      organizationId,
      createdBy: caller.userId,
      name: dto.name,
      description: dto.description ?? null,
      payloadUrl: dto.payload_url,
      secret: dto.secret ?? generateSecret(),
      previousSecret: null,
      previousSecretExpiresAt: null,
      sslVerification,
      enabled: dto.enabled ?? true,
      disabledReason: null,
      disabledAt: dto.enabled === false ? now : null,
      failingSince: null,
      scope,
      filters: filtersOf(dto.filters ?? []),
      kind: WebhookKind.Webhook,
      createdAt: now,
      updatedAt: now,
    });
    await runApproved(
      this.gate,
      this.transactions,
      { operation: HookOperation.WebhookCreate, organizationId, authId: caller.login, input: hookInput(dto) },
      async (em) => {
        // Again inside the transaction: the organization may have been deleted or moved meanwhile.
        await this.checkOwner(em, caller, organizationId, scope);
        // A copy: TypeORM merges what it reads back after an insert into the object it was given.
        await em.insert(WebhookSubscription, { ...row, filters: [...row.filters] });
      },
      () => ({ subscription_id: row.id }),
    );
    return withSecret(row);
  }

  /** {@link visibleSubscriptions} of kind webhook, a page by `limit` and `offset` or `before`, with the total. */
  async list(caller: VerifiedCaller, query: ListSubscriptionsQueryDto): Promise<SubscriptionPage> {
    const [rows, total] = await (await this.listQuery(caller, query))
      .limit(query.limit ?? SUBSCRIPTIONS_LIMIT_DEFAULT)
      .offset(query.offset ?? 0)
      .getManyAndCount();
    return { items: rows.map(subscriptionView), total };
  }

  /** One page of {@link list} by key, without its total (the console): the rows, and whether older ones follow. */
  async page(caller: VerifiedCaller, query: ListSubscriptionsQueryDto): Promise<{ items: SubscriptionView[]; more: boolean }> {
    const limit = query.limit ?? SUBSCRIPTIONS_LIMIT_DEFAULT;
    const rows = await (await this.listQuery(caller, { ...query, offset: undefined })).limit(limit + 1).getMany();
    return { items: rows.slice(0, limit).map(subscriptionView), more: rows.length > limit };
  }

  private listQuery(caller: VerifiedCaller, query: ListSubscriptionsQueryDto): Promise<SelectQueryBuilder<WebhookSubscription>> {
    assertOnePaging(query);
    return visibleSubscriptions(this.dataSource.manager, caller, query, WebhookKind.Webhook, 'a subscription');
  }

  async get(caller: VerifiedCaller, id: string): Promise<SubscriptionView> {
    return subscriptionView(await this.findVisible(this.dataSource.manager, caller, id));
  }

  async update(caller: VerifiedCaller, id: string, dto: UpdateSubscriptionDto): Promise<SubscriptionView> {
    const current = await this.findVisible(this.dataSource.manager, caller, id);
    const target = { url: dto.payload_url ?? current.payloadUrl, ssl: dto.ssl_verification ?? current.sslVerification };
    const urlChanged = dto.payload_url !== undefined || dto.ssl_verification !== undefined;
    if (dto.scope !== undefined) await this.checkOwner(this.dataSource.manager, caller, current.organizationId, dto.scope);
    if (urlChanged) await this.urls.checkUrl(target.url, target.ssl);
    const request = { operation: HookOperation.WebhookUpdate, organizationId: current.organizationId, authId: caller.login, input: { id, ...hookInput(dto) } };
    let resumed = false;
    const view = await runApproved(this.gate, this.transactions, request, async (em) => {
      const row = await this.findVisible(em, caller, id, true);
      if (urlChanged && (row.payloadUrl !== current.payloadUrl || row.sslVerification !== current.sslVerification)) {
        // What was checked above is no longer what would be stored.
        throw new DomainError(ErrorCode.Conflict, 'The subscription changed while this request was checked; retry it.');
      }
      if (dto.scope !== undefined) await this.checkOwner(em, caller, row.organizationId, dto.scope);
      const now = new Date();
      const changes: Partial<WebhookSubscription> = { updatedAt: now };
      if (dto.name !== undefined) changes.name = dto.name;
      if (dto.description !== undefined) changes.description = dto.description;
      if (urlChanged) Object.assign(changes, { payloadUrl: target.url, sslVerification: target.ssl });
      if (dto.secret !== undefined) Object.assign(changes, { secret: dto.secret, previousSecret: null, previousSecretExpiresAt: null });
      // Enabling clears why and when it was disabled, and its health; disabling by hand has no reason to record.
      if (dto.enabled === true) Object.assign(changes, { enabled: true, disabledReason: null, disabledAt: null, failingSince: null });
      if (dto.enabled === false) Object.assign(changes, { enabled: false, disabledReason: null, disabledAt: row.enabled ? now : row.disabledAt });
      if (dto.scope !== undefined) changes.scope = dto.scope;
      if (dto.filters !== undefined) changes.filters = filtersOf(dto.filters);
      await em.update(WebhookSubscription, { id }, changes);
      if (dto.enabled === true && !row.enabled) {
        await this.resumeHeld(em, id);
        resumed = true;
      }
      return subscriptionView(Object.assign(row, changes));
    }, () => ({ subscription_id: id }));
    if (resumed) this.signal.deliveriesCommitted();
    return view;
  }

  /**
   * A subscription enabled again: the pending deliveries held while it was disabled are due at
   * their creation time, so that the worker (which takes the earliest due first, ties by id) sends
   * them now, oldest first, instead of at the retry times they had when it was disabled.
   */
  private async resumeHeld(em: EntityManager, id: string): Promise<void> {
    await executeSql(em, `UPDATE webhook_deliveries SET next_attempt_at = created_at WHERE subscription_id = ? AND state = '${DeliveryState.Pending}'`, [id]);
  }

  /** Deletes the subscription; its deliveries and their attempts go with it (foreign keys, on delete cascade). */
  async remove(caller: VerifiedCaller, id: string): Promise<void> {
    const current = await this.findVisible(this.dataSource.manager, caller, id);
    const request = { operation: HookOperation.WebhookDelete, organizationId: current.organizationId, authId: caller.login, input: { id } };
    await runApproved(this.gate, this.transactions, request, async (em) => {
      await this.findVisible(em, caller, id, true);
      await em.delete(WebhookSubscription, { id });
    }, () => ({ subscription_id: id }));
  }

  /**
   * A new secret (given or generated). The one it replaces keeps signing deliveries, next to the
   * new one, for the configured overlap; a rotation during an overlap drops the oldest secret.
   */
  async rotateSecret(caller: VerifiedCaller, id: string, dto: RotateSecretDto): Promise<SubscriptionWithSecretView> {
    const current = await this.findVisible(this.dataSource.manager, caller, id);
    const request = { operation: HookOperation.WebhookRotateSecret, organizationId: current.organizationId, authId: caller.login, input: { id } };
    return runApproved(this.gate, this.transactions, request, async (em) => {
      const row = await this.findVisible(em, caller, id, true);
      const changes = rotatedSecret(row.secret, dto.secret, this.config.rotationOverlapMs);
      await em.update(WebhookSubscription, { id }, changes);
      return withSecret(Object.assign(row, changes));
    }, () => ({ subscription_id: id }));
  }

  /**
   * Sends a `TEST.WEBHOOK` event to the subscription now, signed like a delivery, and answers with
   * what the receiver said. Nothing is stored; a disabled subscription can be tested too.
   */
  async test(caller: VerifiedCaller, id: string, payload: Record<string, unknown> | undefined): Promise<TestDeliveryView> {
    const s = await this.findVisible(this.dataSource.manager, caller, id);
    const overlapping = s.previousSecretExpiresAt !== null && s.previousSecretExpiresAt.getTime() > Date.now();
    const secrets = [s.secret, overlapping ? s.previousSecret : null].filter((secret): secret is string => secret !== null);
    const { success, status, responseBody, errorClass, error, durationMs } = await this.sender.send(
      { url: s.payloadUrl, sslVerification: s.sslVerification, secrets, owner: s.createdBy ?? s.organizationId },
      { eventId: randomUUID(), eventType: TEST_EVENT_TYPE, body: Buffer.from(JSON.stringify(payload ?? TEST_PAYLOAD), 'utf8') },
    );
    return { success, status, response_body: responseBody, error_class: errorClass, error, duration_ms: durationMs };
  }

  /**
   * The subscription, if its owner is the caller's organization or one below it; any other is as
   * unknown as a missing one (404). `lock` takes a row lock on PostgreSQL (inside a transaction).
   */
  async findVisible(em: EntityManager, caller: VerifiedCaller, id: string, lock = false, kind = WebhookKind.Webhook): Promise<WebhookSubscription> {
    const row = isLookupId(id) ? await em.findOne(WebhookSubscription, { where: { id, kind }, ...(lock ? lockFor<WebhookSubscription>(em) : {}) }) : null;
    if (!row || !(await isVisibleOrganization(em, caller, row.organizationId))) {
      throw new DomainError(ErrorCode.NotFound, SUBSCRIPTION_NOT_FOUND);
    }
    return row;
  }

  /**
   * The owner must be the caller's organization or below it (403 otherwise, unknown ones alike);
   * scope Global needs the owner to be the caller's own organization and the root: the one
   * organization without a parent. With several top-level organizations (several separate trees)
   * none is the root, and Global, which sees every event, is refused: it would cross tenants.
   */
  private async checkOwner(em: EntityManager, caller: VerifiedCaller, organizationId: string, scope: WebhookScope): Promise<void> {
    await assertVisibleOwner(em, caller, organizationId);
    if (scope !== WebhookScope.Global) return;
    const owner = await em.findOne(Organization, { select: { id: true, parentId: true }, where: { id: organizationId } });
    if (!owner || owner.parentId !== null || owner.id !== caller.organizationId) throw new DomainError(ErrorCode.Forbidden, GLOBAL_REFUSED);
    const topLevel = await em.count(Organization, { where: { parentId: IsNull() } });
    if (topLevel !== 1) throw new DomainError(ErrorCode.Forbidden, GLOBAL_REFUSED);
  }
}

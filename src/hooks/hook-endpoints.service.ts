import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { isLookupId } from '../common/ids';
import { hooksConfig, HooksConfig } from '../config/hooks.config';
import { webhooksConfig, WebhooksConfig } from '../config/webhooks.config';
import { TransactionRunner } from '../database/transaction-runner.service';
import { isVisibleOrganization } from '../organizations/organization-tree';
import { UrlPolicy } from '../webhooks/url-policy';
import { generateSecret } from '../webhooks/webhook-signer';
import { WebhookKind, WebhookScope, WebhookSubscription } from '../webhooks/webhook-subscription.entity';
import { assertVisibleOwner, lockFor, rotatedSecret, visibleSubscriptions } from '../webhooks/webhook-subscriptions.service';
import { HookEndpoint } from './hook-endpoint.entity';
import { HookFailurePolicy, HookPhase } from './hook-operation';
import { CreateHookDto, HOOKS_LIMIT_DEFAULT, ListHooksQueryDto, UpdateHookDto } from './hooks.dto';
import { HookPage, HookView, HookWithSecretView } from './hooks.views';

export const HOOK_NOT_FOUND = 'Hook not found.';
const DEFAULT_NAME = 'approval hook';

interface Hook {
  subscription: WebhookSubscription;
  endpoint: HookEndpoint;
}

function hookView({ subscription: s, endpoint: e }: Hook): HookView {
  return {
    id: s.id,
    organization_id: s.organizationId,
    name: s.name,
    url: s.payloadUrl,
    operations: [...e.operations],
    phase: e.phase,
    timeout_ms: e.timeoutMs,
    failure_policy: e.failurePolicy,
    ssl_verification: s.sslVerification,
    enabled: s.enabled,
    disabled_reason: s.disabledReason,
    created_by: s.createdBy,
    created_at: s.createdAt.toISOString(),
    updated_at: (e.updatedAt > s.updatedAt ? e.updatedAt : s.updatedAt).toISOString(),
    has_secret: s.secret !== null,
    previous_secret_expires_at: s.previousSecretExpiresAt ? s.previousSecretExpiresAt.toISOString() : null,
  };
}

const withSecret = (hook: Hook): HookWithSecretView => ({ ...hookView(hook), secret: hook.subscription.secret ?? '' });

/**
 * Hook endpoints (issue 7): CRUD and secret rotation, confined to the caller's organization and
 * its subtree, like the webhooks API. A hook is a `webhook_subscriptions` row of kind `hook` (URL,
 * secret, TLS check, enabled, owner) plus its `hook_endpoints` row (operations, phase, timeout,
 * failure policy), written together. Changing a hook runs no hooks: a hook that vetoes its own
 * removal would lock its owner out.
 */
@Injectable()
export class HookEndpointsService {
  private readonly urls: UrlPolicy;

  constructor(
    private readonly transactions: TransactionRunner,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(hooksConfig.KEY) private readonly config: HooksConfig,
    @Inject(webhooksConfig.KEY) private readonly webhooks: WebhooksConfig,
  ) {
    this.urls = new UrlPolicy(webhooks.allowedPrivate);
  }

  async create(caller: VerifiedCaller, dto: CreateHookDto): Promise<HookWithSecretView> {
    const organizationId = dto.organization_id ?? caller.organizationId;
    const sslVerification = dto.ssl_verification ?? true;
    // The owner before the URL: a foreign caller learns nothing from DNS.
    await assertVisibleOwner(this.dataSource.manager, caller, organizationId);
    await this.checkUrl(dto.url, sslVerification);
    const now = new Date();
    const subscription = Object.assign(new WebhookSubscription(), {
      id: randomUUID(),
      organizationId,
      createdBy: caller.userId,
      name: dto.name ?? DEFAULT_NAME,
      description: null,
      payloadUrl: dto.url,
      secret: dto.secret ?? generateSecret(),
      previousSecret: null,
      previousSecretExpiresAt: null,
      sslVerification,
      enabled: dto.enabled ?? true,
      disabledReason: null,
      scope: WebhookScope.Local,
      filters: [],
      kind: WebhookKind.Hook,
      createdAt: now,
      updatedAt: now,
    });
    const endpoint = Object.assign(new HookEndpoint(), {
      id: subscription.id,
      operations: [...dto.operations],
      phase: dto.phase ?? HookPhase.Both,
      timeoutMs: dto.timeout_ms ?? this.config.defaultTimeoutMs,
      failurePolicy: dto.failure_policy ?? HookFailurePolicy.FailClosed,
      createdAt: now,
      updatedAt: now,
    });
    await this.transactions.run(async (em) => {
      await assertVisibleOwner(em, caller, organizationId);
      // Copies: TypeORM merges what it reads back after an insert into the object it was given.
      await em.insert(WebhookSubscription, { ...subscription, filters: [] });
      await em.insert(HookEndpoint, { ...endpoint, operations: [...endpoint.operations] });
    });
    return withSecret({ subscription, endpoint });
  }

  async list(caller: VerifiedCaller, query: ListHooksQueryDto): Promise<HookPage> {
    const em = this.dataSource.manager;
    const qb = await visibleSubscriptions(em, caller, query, WebhookKind.Hook, 'a hook');
    // Operations are a short JSON list: matched on the quoted name, which no other operation contains.
    if (query.operation !== undefined) {
      qb.andWhere('s.id IN (SELECT h.id FROM hook_endpoints h WHERE h.operations LIKE :operation)', { operation: `%"${query.operation}"%` });
    }
    const [rows, total] = await qb.limit(query.limit ?? HOOKS_LIMIT_DEFAULT).offset(query.offset ?? 0).getManyAndCount();
    const endpoints = new Map((rows.length === 0 ? [] : await em.findBy(HookEndpoint, rows.map((r) => ({ id: r.id })))).map((e) => [e.id, e]));
    return {
      items: rows.flatMap((subscription) => {
        const endpoint = endpoints.get(subscription.id);
        return endpoint ? [hookView({ subscription, endpoint })] : [];
      }),
      total,
    };
  }

  async get(caller: VerifiedCaller, id: string): Promise<HookView> {
    return hookView(await this.findVisible(this.dataSource.manager, caller, id));
  }

  async update(caller: VerifiedCaller, id: string, dto: UpdateHookDto): Promise<HookView> {
    const current = await this.findVisible(this.dataSource.manager, caller, id);
    const url = dto.url ?? current.subscription.payloadUrl;
    const ssl = dto.ssl_verification ?? current.subscription.sslVerification;
    const urlChanged = dto.url !== undefined || dto.ssl_verification !== undefined;
    if (urlChanged) await this.checkUrl(url, ssl);
    return this.transactions.run(async (em) => {
      const hook = await this.findVisible(em, caller, id, true);
      if (urlChanged && (hook.subscription.payloadUrl !== current.subscription.payloadUrl || hook.subscription.sslVerification !== current.subscription.sslVerification)) {
        throw new DomainError(ErrorCode.Conflict, 'The hook changed while this request was checked; retry it.');
      }
      const now = new Date();
      const s: Partial<WebhookSubscription> = { updatedAt: now };
      if (dto.name !== undefined) s.name = dto.name;
      if (urlChanged) Object.assign(s, { payloadUrl: url, sslVerification: ssl });
      if (dto.secret !== undefined) Object.assign(s, { secret: dto.secret, previousSecret: null, previousSecretExpiresAt: null });
      if (dto.enabled !== undefined) Object.assign(s, { enabled: dto.enabled, disabledReason: null });
      const e: Partial<HookEndpoint> = { updatedAt: now };
      if (dto.operations !== undefined) e.operations = [...dto.operations];
      if (dto.phase !== undefined) e.phase = dto.phase;
      if (dto.timeout_ms !== undefined) e.timeoutMs = dto.timeout_ms;
      if (dto.failure_policy !== undefined) e.failurePolicy = dto.failure_policy;
      await em.update(WebhookSubscription, { id }, s);
      await em.update(HookEndpoint, { id }, { ...e, ...(e.operations ? { operations: [...e.operations] } : {}) });
      return hookView({ subscription: Object.assign(hook.subscription, s), endpoint: Object.assign(hook.endpoint, e) });
    });
  }

  /** Deletes the hook with its post-hook deliveries; its decisions stay in the log. */
  async remove(caller: VerifiedCaller, id: string): Promise<void> {
    await this.transactions.run(async (em) => {
      await this.findVisible(em, caller, id, true);
      await em.delete(WebhookSubscription, { id, kind: WebhookKind.Hook });
    });
  }

  /** A new secret (given or generated); the previous one keeps signing for WEBHOOKS_ROTATION_OVERLAP_HOURS. */
  async rotateSecret(caller: VerifiedCaller, id: string, secret: string | undefined): Promise<HookWithSecretView> {
    return this.transactions.run(async (em) => {
      const hook = await this.findVisible(em, caller, id, true);
      const changes = rotatedSecret(hook.subscription.secret, secret, this.webhooks.rotationOverlapMs);
      await em.update(WebhookSubscription, { id }, changes);
      return withSecret({ subscription: Object.assign(hook.subscription, changes), endpoint: hook.endpoint });
    });
  }

  /** The hook, if its owner is the caller's organization or below it; any other is as unknown as a missing one (404). */
  async findVisible(em: EntityManager, caller: VerifiedCaller, id: string, lock = false): Promise<Hook> {
    const subscription = isLookupId(id)
      ? await em.findOne(WebhookSubscription, { where: { id, kind: WebhookKind.Hook }, ...(lock ? lockFor<WebhookSubscription>(em) : {}) })
      : null;
    const endpoint = subscription ? await em.findOneBy(HookEndpoint, { id }) : null;
    if (!subscription || !endpoint || !(await isVisibleOrganization(em, caller, subscription.organizationId))) {
      throw new DomainError(ErrorCode.NotFound, HOOK_NOT_FOUND);
    }
    return { subscription, endpoint };
  }

  /** The webhooks' URL rules; their messages name this API's field, `url`, not `payload_url`. */
  private async checkUrl(url: string, sslVerification: boolean): Promise<void> {
    try {
      await this.urls.checkUrl(url, sslVerification);
    } catch (error) {
      if (error instanceof DomainError && error.message.startsWith('payload_url ')) {
        throw new DomainError(error.code, `url ${error.message.slice('payload_url '.length)}`, error.headers);
      }
      throw error;
    }
  }
}

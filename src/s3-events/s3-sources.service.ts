import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { isLookupId } from '../common/ids';
import { s3EventsConfig, S3EventsConfig } from '../config/s3-events.config';
import { fromDbDate } from '../database/raw-dates';
import { TransactionRunner } from '../database/transaction-runner.service';
import { confineToSubtree, isVisibleOrganization, olderThanCursor } from '../organizations/organization-tree';
import { UrlPolicy } from '../webhooks/url-policy';
import type { S3Action } from './s3-action.types';
import { S3EventSource } from './s3-event-source.entity';
import { CONFIRMATIONS_KEPT, S3SourceConfirmation } from './s3-source-confirmation.entity';
import { generateToken, hashToken, intakePath } from './s3-source-token';
import { CreateSourceDto, endpointsOf, sourceChangesOf, sourceInputOf, TOKEN_PLACEHOLDER, UpdateSourceDto } from './s3-sources.dto';
import { ConfirmationList, S3ActionView, S3ReplicateActionView, SourcePage, SourceView, SourceWithTokenView } from './s3-events.views';

const SOURCE_NOT_FOUND = 'S3 event source not found.';
const FOREIGN_ORGANIZATION = 'organization_id is not your organization or one below it.';
const LIST_LIMIT_MAX = 500;

function actionView(action: S3Action): S3ActionView {
  if (action.type === 'command') return { ...action, command: [...action.command] };
  const { secret_access_key: _secret, source, ...rest } = action;
  const view: S3ReplicateActionView = { ...rest, has_secret_access_key: true };
  if (source) {
    const { secret_access_key: _sourceSecret, ...sourceRest } = source;
    view.source = { ...sourceRest, has_secret_access_key: true };
  }
  return view;
}

/** The URL with a path segment that is the source's token replaced by `{token}`. */
function maskedUrl(url: string | null, tokenHash: string): string | null {
  if (url === null) return null;
  return url
    .split('/')
    .map((segment) => (segment.length === 43 && hashToken(segment) === tokenHash ? TOKEN_PLACEHOLDER : segment))
    .join('/');
}

export function sourceView(s: S3EventSource): SourceView {
  return {
    id: s.id,
    organization_id: s.organizationId,
    name: s.name,
    public_url: maskedUrl(s.publicUrl, s.tokenHash),
    allowed_buckets: [...s.allowedBuckets],
    actions: s.actions.map(actionView),
    enabled: s.enabled,
    created_by: s.createdBy,
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
  };
}

/**
 * S3 event sources (issue 8): CRUD and token rotation, confined to the caller's organization and
 * its subtree like the webhook API. Replicate endpoints are checked by the address policy
 * (S3_EVENTS_ALLOWED_PRIVATE) when saved; command executables must be allow-listed.
 */
@Injectable()
export class S3SourcesService {
  private readonly urls: UrlPolicy;

  constructor(
    private readonly transactions: TransactionRunner,
    @Inject(s3EventsConfig.KEY) private readonly config: S3EventsConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {
    this.urls = new UrlPolicy(config.allowedPrivate);
  }

  async create(caller: VerifiedCaller, dto: CreateSourceDto): Promise<SourceWithTokenView> {
    const input = sourceInputOf(dto);
    this.checkCommands(input.actions);
    const organizationId = dto.organization_id ?? caller.organizationId;
    if (!(await isVisibleOrganization(this.dataSource.manager, caller, organizationId))) throw new DomainError(ErrorCode.Forbidden, FOREIGN_ORGANIZATION);
    await this.checkEndpoints(input.actions);
    const token = generateToken();
    const now = new Date();
    const row = Object.assign(new S3EventSource(), {
      id: randomUUID(),
      organizationId,
      createdBy: caller.userId,
      ...input,
      tokenHash: hashToken(token),
      createdAt: now,
      updatedAt: now,
    });
    await this.transactions.run(async (em) => {
      if (!(await isVisibleOrganization(em, caller, organizationId))) throw new DomainError(ErrorCode.Forbidden, FOREIGN_ORGANIZATION);
      await em.insert(S3EventSource, { ...row, allowedBuckets: [...row.allowedBuckets], actions: [...row.actions] });
    });
    return { ...sourceView(row), token, intake_path: intakePath(token) };
  }

  /**
   * Newest first (`created_at`, then `id`); `before` (a visible source's id, else 400) pages by key:
   * the sources after it in that order. `offset` is kept for existing callers; not with `before`.
   */
  async list(caller: VerifiedCaller, query: Record<string, unknown>): Promise<SourcePage> {
    const limit = intParam(query.limit, 'limit', 1, LIST_LIMIT_MAX) ?? 100;
    const offset = intParam(query.offset, 'offset', 0, Number.MAX_SAFE_INTEGER) ?? 0;
    if (query.before !== undefined && query.offset !== undefined) throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: before and offset cannot be used together.');
    const em = this.dataSource.manager;
    const qb = em.createQueryBuilder(S3EventSource, 's');
    if (query.organization_id !== undefined) {
      const organizationId = stringParam(query.organization_id, 'organization_id');
      if (!isLookupId(organizationId) || !(await isVisibleOrganization(em, caller, organizationId))) throw new DomainError(ErrorCode.Forbidden, FOREIGN_ORGANIZATION);
      qb.where('s.organization_id = :organizationId', { organizationId });
    } else {
      confineToSubtree(qb, 's.organization_id', caller.organizationId);
    }
    if (query.before !== undefined) {
      const refusal = 'Invalid request: before must be the id of a source you can see.';
      await olderThanCursor(qb, caller, stringParam(query.before, 'before'), { timeColumn: 'created_at', owner: 'organizationId', refusal });
    }
    const [rows, total] = await qb.orderBy('s.created_at', 'DESC').addOrderBy('s.id', 'DESC').limit(limit).offset(offset).getManyAndCount();
    return { items: rows.map(sourceView), total };
  }

  async get(caller: VerifiedCaller, id: string): Promise<SourceView> {
    return sourceView(await this.findVisible(this.dataSource.manager, caller, id));
  }

  /** The source's subscription confirmations, newest first (the newest {@link CONFIRMATIONS_KEPT} are kept). */
  async confirmations(caller: VerifiedCaller, id: string): Promise<ConfirmationList> {
    const em = this.dataSource.manager;
    const source = await this.findVisible(em, caller, id);
    const rows = await em.find(S3SourceConfirmation, { where: { sourceId: source.id }, order: { confirmedAt: 'DESC', id: 'DESC' }, take: CONFIRMATIONS_KEPT });
    return {
      items: rows.map((c) => ({
        id: c.id,
        source_id: c.sourceId,
        bucket: c.bucket,
        topic_arn: c.topicArn,
        message_timestamp: c.messageTimestamp,
        confirmed_at: c.confirmedAt.toISOString(),
      })),
    };
  }

  /** When each of these sources last confirmed a subscription (for a list; sources without one are left out). */
  async lastConfirmed(sourceIds: string[]): Promise<Map<string, string>> {
    if (sourceIds.length === 0) return new Map();
    const rows = await this.dataSource.manager
      .createQueryBuilder(S3SourceConfirmation, 'c')
      .select('c.source_id', 'source_id')
      .addSelect('MAX(c.confirmed_at)', 'at')
      .where('c.source_id IN (:...ids)', { ids: sourceIds })
      .groupBy('c.source_id')
      .getRawMany<{ source_id: string; at: string | Date }>();
    return new Map(rows.map((r) => [r.source_id, fromDbDate(r.at).toISOString()]));
  }

  /** `dto` has been through `assertSourceChanges`: it changes something. */
  async update(caller: VerifiedCaller, id: string, dto: UpdateSourceDto): Promise<SourceView> {
    await this.findVisible(this.dataSource.manager, caller, id);
    const changes = sourceChangesOf(dto);
    if (changes.actions) {
      this.checkCommands(changes.actions);
      await this.checkEndpoints(changes.actions);
    }
    return this.transactions.run(async (em) => {
      const row = await this.findVisible(em, caller, id);
      const set: Partial<S3EventSource> = { ...changes, updatedAt: new Date() };
      await em.update(S3EventSource, { id }, set);
      return sourceView(Object.assign(row, set));
    });
  }

  /** Deletes the source with its inbox and attempts (foreign keys, on delete cascade). */
  async remove(caller: VerifiedCaller, id: string): Promise<void> {
    await this.transactions.run(async (em) => {
      await this.findVisible(em, caller, id);
      await em.delete(S3EventSource, { id });
    });
  }

  /** A new path token; the old one stops working at once (reconfigure the bucket's notification with the new URL). */
  async rotateToken(caller: VerifiedCaller, id: string): Promise<SourceWithTokenView> {
    const token = generateToken();
    return this.transactions.run(async (em) => {
      const row = await this.findVisible(em, caller, id);
      const set = { tokenHash: hashToken(token), updatedAt: new Date() };
      await em.update(S3EventSource, { id }, set);
      return { ...sourceView(Object.assign(row, set)), token, intake_path: intakePath(token) };
    });
  }

  /** The source if it belongs to the caller's organization or one below it; a foreign one is as unknown as a missing one (404). */
  async findVisible(em: EntityManager, caller: VerifiedCaller, id: string): Promise<S3EventSource> {
    const row = isLookupId(id) ? await em.findOne(S3EventSource, { where: { id } }) : null;
    if (!row || !(await isVisibleOrganization(em, caller, row.organizationId))) throw new DomainError(ErrorCode.NotFound, SOURCE_NOT_FOUND);
    return row;
  }

  /** Command actions run only allow-listed executables (S3_EVENTS_ALLOWED_COMMANDS; none when empty). */
  private checkCommands(actions: S3Action[]): void {
    const allowed = this.config.allowedCommands;
    actions.forEach((action, i) => {
      if (action.type !== 'command' || allowed.includes(action.command[0])) return;
      throw new DomainError(
        ErrorCode.ValidationFailed,
        allowed.length === 0
          ? `Invalid request: actions.${i}: command actions are turned off (S3_EVENTS_ALLOWED_COMMANDS is empty).`
          : `Invalid request: actions.${i}.command.0 must be one of the executables listed in S3_EVENTS_ALLOWED_COMMANDS.`,
      );
    });
  }

  private async checkEndpoints(actions: S3Action[]): Promise<void> {
    for (const { url, at } of endpointsOf(actions)) {
      try {
        await this.urls.checkUrl(url, false);
      } catch (error) {
        if (error instanceof DomainError) throw new DomainError(error.code, error.message.split('payload_url').join(at).split('WEBHOOKS_ALLOWED_PRIVATE').join('S3_EVENTS_ALLOWED_PRIVATE'));
        throw error;
      }
    }
  }
}

/** A query parameter given once, as text (a repeated one is a 400). */
export function stringParam(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: ${name} must be given once.`);
  return value;
}

/** An optional integer query parameter within bounds (400 otherwise). */
export function intParam(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: ${name} must be an integer from ${min} to ${max}.`);
  return n;
}

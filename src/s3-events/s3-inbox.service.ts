import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In, SelectQueryBuilder } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { isLookupId } from '../common/ids';
import { hasControlCharacters } from '../common/printable';
import { TransactionRunner } from '../database/transaction-runner.service';
import { confineToSubtree, isVisibleOrganization, olderThanCursor } from '../organizations/organization-tree';
import { S3ActionAttempt } from './s3-action-attempt.entity';
import { S3InboxRecord, S3InboxState } from './s3-inbox-record.entity';
import { S3InboxSignal } from './s3-inbox-signal.service';
import { executeSql } from '../database/raw-sql';
import { queueFigures, QueueFigures } from '../common/state-counts';
import { intParam, S3SourcesService, stringParam } from './s3-sources.service';
import { ActionAttemptView, InboxPage, InboxRecordView } from './s3-events.views';

const RECORD_NOT_FOUND = 'S3 inbox record not found.';
const REPLAYABLE = [S3InboxState.Done, S3InboxState.Failed, S3InboxState.SkippedStale];

function attemptView(a: S3ActionAttempt): ActionAttemptView {
  return {
    action_index: a.actionIndex,
    action_type: a.actionType,
    attempt: a.attempt,
    operation: a.operation,
    started_at: a.startedAt.toISOString(),
    duration_ms: a.durationMs,
    success: a.success,
    exit_code: a.exitCode,
    stdout: a.stdout,
    stderr: a.stderr,
    error: a.error,
    note: a.note,
  };
}

function recordView(r: S3InboxRecord, attempts: S3ActionAttempt[]): InboxRecordView {
  return {
    id: r.id,
    source_id: r.sourceId,
    organization_id: r.organizationId,
    bucket: r.bucket,
    key: r.objectKey,
    event_name: r.eventName,
    etag: r.etag,
    sequencer: r.sequencer,
    size: r.size === null ? null : Number(r.size),
    state: r.state,
    attempts: r.attempts,
    event_emitted: r.emitted,
    actions_done: [...r.actionsDone],
    next_attempt_at: r.state === S3InboxState.Pending ? r.nextAttemptAt.toISOString() : null,
    last_error: r.lastError,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
    completed_at: r.completedAt ? r.completedAt.toISOString() : null,
    action_attempts: attempts.map(attemptView),
  };
}

/** The states the overview counts. */
export const INBOX_QUEUE_STATES = [S3InboxState.Pending, S3InboxState.Processing, S3InboxState.Failed] as const;

/** The inbox API: records with their action outcomes, and replay. Confined like the sources. */
@Injectable()
export class S3InboxService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly transactions: TransactionRunner,
    private readonly sources: S3SourcesService,
    private readonly signal: S3InboxSignal,
  ) {}

  /**
   * Newest first (`created_at`, then `id`), with the filters of the query and its total. `before` (a
   * visible record's id, else 400) pages by key: the records after it in that order.
   */
  async list(caller: VerifiedCaller, query: Record<string, unknown>): Promise<InboxPage> {
    const limit = intParam(query.limit, 'limit', 1, 500) ?? 100;
    const offset = intParam(query.offset, 'offset', 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const qb = await this.filtered(caller, query);
    const [rows, total] = await qb.limit(limit).offset(offset).getManyAndCount();
    return { items: await this.withAttempts(rows), total };
  }

  /**
   * One page by key, as {@link list} without `offset` and without a total (no count over a large
   * inbox): `more` says whether older records follow the last one.
   */
  async page(caller: VerifiedCaller, query: Record<string, unknown>): Promise<{ items: InboxRecordView[]; more: boolean }> {
    if (query.offset !== undefined) throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: page by before, not offset.');
    const limit = intParam(query.limit, 'limit', 1, 500) ?? 100;
    const rows = await (await this.filtered(caller, query)).limit(limit + 1).getMany();
    return { items: await this.withAttempts(rows.slice(0, limit)), more: rows.length > limit };
  }

  /** The visible records matching the query's filters and cursor, newest first (400 for a bad filter). */
  private async filtered(caller: VerifiedCaller, query: Record<string, unknown>): Promise<SelectQueryBuilder<S3InboxRecord>> {
    if (query.before !== undefined && query.offset !== undefined) throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: before and offset cannot be used together.');
    const em = this.dataSource.manager;
    const qb = confineToSubtree(em.createQueryBuilder(S3InboxRecord, 'r'), 'r.organization_id', caller.organizationId);
    if (query.source_id !== undefined) {
      const source = await this.sources.findVisible(em, caller, stringParam(query.source_id, 'source_id'));
      qb.andWhere('r.source_id = :sourceId', { sourceId: source.id });
    }
    if (query.state !== undefined) {
      const state = stringParam(query.state, 'state');
      if (!Object.values(S3InboxState).includes(state as S3InboxState)) {
        throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: state must be one of ${Object.values(S3InboxState).join(', ')}.`);
      }
      qb.andWhere('r.state = :state', { state });
    }
    if (query.bucket !== undefined) {
      const bucket = stringParam(query.bucket, 'bucket');
      if (bucket.length === 0 || bucket.length > 255 || hasControlCharacters(bucket)) throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: bucket must be a bucket name.');
      qb.andWhere('r.bucket = :bucket', { bucket });
    }
    if (query.before !== undefined) {
      const refusal = 'Invalid request: before must be the id of an inbox record you can see.';
      await olderThanCursor(qb, caller, stringParam(query.before, 'before'), { timeColumn: 'created_at', owner: 'organizationId', refusal });
    }
    return qb.orderBy('r.created_at', 'DESC').addOrderBy('r.id', 'DESC');
  }

  private async withAttempts(rows: S3InboxRecord[]): Promise<InboxRecordView[]> {
    const attempts = rows.length === 0 ? [] : await this.dataSource.manager.find(S3ActionAttempt, { where: { inboxId: In(rows.map((r) => r.id)) }, order: { startedAt: 'ASC' } });
    return rows.map((r) => recordView(r, attempts.filter((a) => a.inboxId === r.id)));
  }

  /** The overview's figures: records waiting, being processed and failed, and records created since `since`, each counted up to `cap`. */
  async figures(caller: VerifiedCaller, since: Date, cap: number): Promise<QueueFigures<(typeof INBOX_QUEUE_STATES)[number]>> {
    const visible = () => confineToSubtree(this.dataSource.manager.createQueryBuilder(S3InboxRecord, 'r'), 'r.organization_id', caller.organizationId);
    return queueFigures(visible, 'r', INBOX_QUEUE_STATES, 'created_at', since, cap);
  }

  async get(caller: VerifiedCaller, id: string): Promise<InboxRecordView> {
    const row = await this.findVisible(caller, id);
    const attempts = await this.dataSource.manager.find(S3ActionAttempt, { where: { inboxId: row.id }, order: { startedAt: 'ASC' } });
    return recordView(row, attempts);
  }

  /**
   * Runs a finished record again: every action of its source, even if a newer event of the key was
   * acted on meanwhile (a replay is an operator's decision); the event is not recorded again. A
   * record still pending or in progress answers 409.
   */
  async replay(caller: VerifiedCaller, id: string): Promise<InboxRecordView> {
    const row = await this.findVisible(caller, id);
    const now = new Date();
    const changed = await this.transactions.run((em) =>
      executeSql(
        em,
        `UPDATE s3_inbox SET state = ?, attempt_base = attempts, forced = ?, actions_done = ?, next_attempt_at = ?, locked_until = NULL,
                last_error = NULL, completed_at = NULL, updated_at = ?
          WHERE id = ? AND state IN (?, ?, ?)`,
        [S3InboxState.Pending, true, '[]', now, now, row.id, ...REPLAYABLE],
      ),
    );
    if (changed === 0) throw new DomainError(ErrorCode.Conflict, 'The record is still pending or being processed; replay it once it has finished.');
    this.signal.notify();
    return this.get(caller, id);
  }

  private async findVisible(caller: VerifiedCaller, id: string): Promise<S3InboxRecord> {
    const em = this.dataSource.manager;
    const row = isLookupId(id) ? await em.findOne(S3InboxRecord, { where: { id } }) : null;
    if (!row || !(await isVisibleOrganization(em, caller, row.organizationId))) throw new DomainError(ErrorCode.NotFound, RECORD_NOT_FOUND);
    return row;
  }
}

import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditService } from '../audit/audit.service';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { DomainError, ErrorCode } from '../common/domain-error';
import { s3EventsConfig, S3EventsConfig } from '../config/s3-events.config';
import { GroupCommit } from '../database/group-commit';
import { TransactionRunner } from '../database/transaction-runner.service';
import { S3EventSource } from './s3-event-source.entity';
import { S3InboxState } from './s3-inbox-record.entity';
import { S3InboxSignal } from './s3-inbox-signal.service';
import { parseNotification, ParsedRecord } from './s3-notification.parser';
import { confirmationSignature } from './s3-signature';
import { hashToken, isTokenShaped } from './s3-source-token';
import { TOKEN_PLACEHOLDER } from './s3-sources.dto';
import { executeSql, placeholders, selectSql } from '../database/raw-sql';
import { newRowId } from '../common/ids';
import { CONFIRMATIONS_KEPT, S3SourceConfirmation } from './s3-source-confirmation.entity';
import type { IntakeAnswer } from './s3-events.views';

const UNKNOWN_SOURCE = 'Unknown S3 event source.';
const INSERT_CHUNK = 200;
const INBOX_COLUMNS = [
  'id', 'source_id', 'organization_id', 'bucket', 'object_key', 'event_name', 'etag', 'sequencer', 'seq_sort', 'size',
  'dedupe_key', 'record', 'state', 'actions_done', 'next_attempt_at', 'created_at', 'updated_at',
];

/**
 * The bucket-facing side (docs/protocols.md, S3 bucket event intake): the path token finds the source; a SubscriptionConfirmation
 * is answered with the signature over the source's configured URL; Records are checked, all of
 * them, then stored in one transaction (a repeated record is not stored again) and acknowledged
 * before any action runs.
 */
@Injectable()
export class S3IntakeService {
  private readonly logger = new Logger(S3IntakeService.name);
  /** Concurrent POSTs share a commit: a bucket notifier sending many small bodies at once pays one fsync per batch, not per POST. */
  private readonly writes: GroupCommit;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly transactions: TransactionRunner,
    private readonly signal: S3InboxSignal,
    @Inject(s3EventsConfig.KEY) private readonly config: S3EventsConfig,
    private readonly audit: AuditService,
  ) {
    this.writes = new GroupCommit(transactions);
  }

  async receive(token: string, body: unknown): Promise<IntakeAnswer> {
    const source = isTokenShaped(token) ? await this.dataSource.manager.findOne(S3EventSource, { where: { tokenHash: hashToken(token) } }) : null;
    if (!source) throw new DomainError(ErrorCode.NotFound, UNKNOWN_SOURCE);
    const message = parseNotification(body, this.config.maxRecords);
    if (!source.enabled) throw new DomainError(ErrorCode.Forbidden, 'This S3 event source is disabled.');
    if (message.kind === 'confirmation') {
      this.checkBucket(source, message.bucket);
      if (source.publicUrl === null) {
        throw new DomainError(ErrorCode.Conflict, 'This source has no public_url configured: the confirmation cannot be signed. Set it first.');
      }
      const signature = confirmationSignature(message.fields, source.publicUrl.split(TOKEN_PLACEHOLDER).join(token));
      await this.recordConfirmation(source, message.bucket, message.fields.TopicArn, message.fields.Timestamp);
      // The source's id, never its token (the path's only credential).
      this.logger.log({ sourceId: source.id, bucket: message.bucket }, `S3 event source ${source.id}: subscription confirmed for bucket ${message.bucket}`);
      return { signature };
    }
    for (const record of message.records) this.checkBucket(source, record.bucket);
    return this.store(source, message.records);
  }

  /** Keeps the confirmation (never its Token), and only the newest {@link CONFIRMATIONS_KEPT} of the source. */
  private async recordConfirmation(source: S3EventSource, bucket: string, topicArn: string, timestamp: string): Promise<void> {
    await this.transactions.run(async (em) => {
      await em.insert(S3SourceConfirmation, { id: newRowId(), sourceId: source.id, bucket, topicArn, messageTimestamp: timestamp, confirmedAt: new Date() });
      await executeSql(
        em,
        `DELETE FROM s3_source_confirmations WHERE source_id = ? AND id NOT IN
           (SELECT id FROM s3_source_confirmations WHERE source_id = ? ORDER BY confirmed_at DESC, id DESC LIMIT ${CONFIRMATIONS_KEPT})`,
        [source.id, source.id],
      );
    });
  }

  private checkBucket(source: S3EventSource, bucket: string): void {
    if (!source.allowedBuckets.includes(bucket)) throw new DomainError(ErrorCode.Forbidden, `Bucket ${JSON.stringify(bucket.slice(0, 255))} is not allowed for this source.`);
  }

  private async store(source: S3EventSource, records: ParsedRecord[]): Promise<{ stored: number; duplicates: number }> {
    const unique = [...new Map(records.map((r) => [r.dedupeKey, r])).values()];
    const stored = await this.writes.run(async (em) => {
      const now = new Date();
      let count = 0;
      for (let i = 0; i < unique.length; i += INSERT_CHUNK) {
        const chunk = unique.slice(i, i + INSERT_CHUNK);
        const params = chunk.flatMap((r) => [
          randomUUID(), source.id, source.organizationId, r.bucket, r.key, r.eventName, r.etag, r.sequencer, r.seqSort, r.size,
          r.dedupeKey, r.raw, S3InboxState.Pending, '[]', now, now, now,
        ]);
        const rows = await selectSql<{ id: string; bucket: string; event_name: string }>(
          em,
          `INSERT INTO s3_inbox (${INBOX_COLUMNS.join(', ')}) VALUES ${placeholders(chunk.length, INBOX_COLUMNS.length)}
             ON CONFLICT (source_id, dedupe_key) DO NOTHING RETURNING id, bucket, event_name`,
          params,
        );
        count += rows.length;
        // One record per notification taken in (a duplicate takes nothing, so records nothing), with it.
        await this.audit.record(
          em,
          rows.map((row) => ({
            at: now,
            kind: AuditKind.S3Record,
            name: row.event_name,
            outcome: AuditOutcome.Ok,
            code: 'stored',
            organizationId: source.organizationId,
            workId: row.id,
            detail: { source_id: source.id, bucket: row.bucket },
          })),
        );
      }
      return count;
    });
    if (stored > 0) this.signal.notify();
    return { stored, duplicates: records.length - stored };
  }
}

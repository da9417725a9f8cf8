import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { auditConfig, AuditConfig } from '../config/audit.config';
import { executeSql } from '../database/raw-sql';
import { TransactionRunner } from '../database/transaction-runner.service';
import { idFloor } from './audit-ids';

const INTERVAL = 'audit-retention';
/** Records deleted per statement (and transaction), so that SQLite's write lock is never held long. */
const DELETE_CHUNK = 1000;

/**
 * Deletes audit records older than AUDIT_RETENTION_DAYS, whatever their kind or outcome (a failure
 * is kept exactly as long as a success), every AUDIT_RETENTION_INTERVAL_MINUTES (0: off). The age
 * is the id's: ids are UUIDv7, so the sweep walks the primary key. Every process runs it: deleting
 * is idempotent. The SchedulerRegistry exists in the service only (not the CLI).
 */
@Injectable()
export class AuditRetentionJob implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AuditRetentionJob.name);
  private running: Promise<number> | null = null;

  constructor(
    @Inject(auditConfig.KEY) private readonly config: AuditConfig,
    private readonly transactions: TransactionRunner,
    @Optional() private readonly scheduler?: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.scheduler || this.config.retentionIntervalMs === 0) return;
    this.scheduler.addInterval(INTERVAL, setInterval(() => void this.tick(), this.config.retentionIntervalMs));
  }

  beforeApplicationShutdown(): void {
    if (this.scheduler?.doesExist('interval', INTERVAL)) this.scheduler.deleteInterval(INTERVAL);
  }

  private async tick(): Promise<void> {
    try {
      const deleted = await this.sweep();
      if (deleted > 0) this.logger.log(`audit retention: ${deleted} records older than the retention deleted`);
    } catch (error) {
      this.logger.error({ err: error }, 'audit retention sweep failed');
    }
  }

  /** Deletes the records made before `now` minus the retention; returns how many. `now` is the sweep's clock (tests set it). */
  sweep(now: Date = new Date()): Promise<number> {
    this.running ??= this.sweepBefore(idFloor(new Date(now.getTime() - this.config.retentionMs))).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweepBefore(bound: string): Promise<number> {
    const sql = `DELETE FROM audit_records WHERE id IN (SELECT id FROM audit_records WHERE id < ? ORDER BY id LIMIT ${DELETE_CHUNK})`;
    let deleted = 0;
    for (;;) {
      const affected = await this.transactions.run((em) => executeSql(em, sql, [bound]));
      deleted += affected;
      if (affected < DELETE_CHUNK) return deleted;
    }
  }
}

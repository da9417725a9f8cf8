import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DataSource } from 'typeorm';
import { webhooksConfig, WebhooksConfig } from '../config/webhooks.config';
import { LeaseService } from '../database/lease.service';
import { toSqliteDate } from '../database/raw-dates';
import { TransactionRunner } from '../database/transaction-runner.service';
import { DeliveryState, WebhookDelivery } from './webhook-delivery.entity';

const INTERVAL = 'webhooks-retention';
/** The lease every replica competes for; its holder sweeps. */
export const RETENTION_LEASE = 'webhooks-retention';
const LEASE_TTL_MS = 5 * 60_000;
/** Rows deleted per statement (and transaction), so that SQLite's write lock is never held long. */
const DELETE_CHUNK = 1000;

/**
 * Deletes finished deliveries (succeeded or failed) older than WEBHOOKS_RETENTION_DAYS, and, when
 * WEBHOOKS_RETENTION_PER_SUBSCRIPTION is set, succeeded ones beyond a subscription's newest N
 * (CloudStack keeps 10). A failed delivery is a dead letter an operator may still want to replay:
 * it is never swept before its age. Pending and in-flight deliveries are never swept, however
 * old. Attempts go with their delivery (foreign keys). Runs every
 * WEBHOOKS_RETENTION_INTERVAL_MINUTES (0: off) on whichever replica holds the lease.
 *
 * The SchedulerRegistry exists where ScheduleModule is imported (the service); the CLI has none,
 * so the job stays idle there.
 */
@Injectable()
export class WebhookRetentionJob implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhookRetentionJob.name);
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private running: Promise<number> | null = null;

  constructor(
    @Inject(webhooksConfig.KEY) private readonly config: WebhooksConfig,
    private readonly leases: LeaseService,
    private readonly transactions: TransactionRunner,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Optional() private readonly scheduler?: SchedulerRegistry,
  ) {}

  private get postgres(): boolean {
    return this.dataSource.options.type === 'postgres';
  }

  onApplicationBootstrap(): void {
    if (!this.scheduler) return;
    if (this.config.retentionIntervalMs === 0) {
      this.logger.log('webhook retention sweep off (WEBHOOKS_RETENTION_INTERVAL_MINUTES=0)');
      return;
    }
    this.scheduler.addInterval(INTERVAL, setInterval(() => void this.tick(), this.config.retentionIntervalMs));
  }

  beforeApplicationShutdown(): void {
    if (this.scheduler?.doesExist('interval', INTERVAL)) this.scheduler.deleteInterval(INTERVAL);
  }

  private async tick(): Promise<void> {
    try {
      const deleted = await this.sweep();
      if (deleted > 0) this.logger.log(`webhook retention: ${deleted} old deliveries deleted`);
    } catch (error) {
      this.logger.error({ err: error }, 'webhook retention sweep failed');
    }
  }

  /**
   * One sweep: by age, then the count cap; returns how many deliveries were deleted (0 when
   * another replica holds the lease). A sweep already running in this process is joined rather
   * than started twice. `now` is the sweep's clock (tests set it).
   */
  sweep(now: Date = new Date()): Promise<number> {
    this.running ??= this.sweepUnderLease(now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweepUnderLease(now: Date): Promise<number> {
    if (!(await this.leases.acquire(RETENTION_LEASE, this.holder, LEASE_TTL_MS))) return 0;
    try {
      let deleted = await this.sweepByAge(new Date(now.getTime() - this.config.retentionMs));
      const keep = this.config.retentionPerSubscription;
      if (keep === 0) return deleted;
      const crowded: Array<{ subscription_id: string }> = await this.dataSource
        .createQueryBuilder()
        .select('d.subscription_id', 'subscription_id')
        .from(WebhookDelivery, 'd')
        .groupBy('d.subscription_id')
        .where('d.state = :succeeded', { succeeded: DeliveryState.Succeeded })
        .having('COUNT(*) > :keep', { keep })
        .orderBy('d.subscription_id')
        .getRawMany();
      let renewedAt = Date.now();
      for (const { subscription_id: subscriptionId } of crowded) {
        deleted += await this.sweepSubscription(subscriptionId, keep);
        if (Date.now() - renewedAt > LEASE_TTL_MS / 3) {
          if (!(await this.leases.renew(RETENTION_LEASE, this.holder, LEASE_TTL_MS))) break; // another replica took over
          renewedAt = Date.now();
        }
      }
      return deleted;
    } finally {
      await this.leases.release(RETENTION_LEASE, this.holder).catch((error: unknown) => {
        this.logger.warn({ err: error }, 'webhook retention lease not released; it expires on its own');
      });
    }
  }

  /** Deletes finished deliveries created before `cutoff`, a chunk per transaction. */
  private sweepByAge(cutoff: Date): Promise<number> {
    return this.deleteInChunks(
      `SELECT old.id FROM webhook_deliveries old
        WHERE old.created_at < :cutoff AND old.state IN (:succeeded, :failed)
        LIMIT :chunk`,
      { cutoff: this.postgres ? cutoff : toSqliteDate(cutoff), succeeded: DeliveryState.Succeeded, failed: DeliveryState.Failed },
    );
  }

  /** Deletes the succeeded deliveries of one subscription beyond its newest `keep` succeeded ones, a chunk per transaction. */
  private sweepSubscription(subscriptionId: string, keep: number): Promise<number> {
    return this.deleteInChunks(
      `SELECT ranked.id FROM (
         SELECT id, ROW_NUMBER() OVER (ORDER BY created_at DESC, id DESC) AS position
         FROM webhook_deliveries WHERE subscription_id = :subscriptionId AND state = :succeeded
       ) ranked
       WHERE ranked.position > :keep
       LIMIT :chunk`,
      { subscriptionId, keep, succeeded: DeliveryState.Succeeded },
    );
  }

  /** Deletes the deliveries `select` names, at most `:chunk` ids a run and a transaction, until a chunk comes back short. */
  private async deleteInChunks(select: string, parameters: Record<string, unknown>): Promise<number> {
    let deleted = 0;
    for (;;) {
      const affected = await this.transactions.run(async (em) => {
        const result = await em
          .createQueryBuilder()
          .delete()
          .from(WebhookDelivery)
          .where(`id IN (${select})`, { ...parameters, chunk: DELETE_CHUNK })
          .execute();
        return result.affected ?? 0;
      });
      deleted += affected;
      if (affected < DELETE_CHUNK) return deleted;
    }
  }
}

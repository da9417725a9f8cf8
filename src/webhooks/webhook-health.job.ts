import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { webhooksConfig, WebhooksConfig } from '../config/webhooks.config';
import { fromDbDate } from '../database/raw-dates';
import { executeSql, selectSql } from '../database/raw-sql';
import { TransactionRunner } from '../database/transaction-runner.service';
import { NewEvent, OutboxService } from '../events/outbox.service';
import { WebhookKind } from './webhook-subscription.entity';

const INTERVAL = 'webhooks-health';
const CHECK_EVERY_MS = 60_000;
/** The event recorded when the gateway disables a failing subscription (docs/protocols.md, event types). */
export const SUBSCRIPTION_DISABLED_EVENT = 'webhook.subscription.disabled';

interface FailingRow {
  id: string;
  organization_id: string;
  name: string;
  payload_url: string;
  failing_since: Date | string;
}

/**
 * The `webhook.subscription.disabled` event of a subscription the gateway disabled, by the health
 * check or by a receiver's 410 Gone (the delivery worker), recorded in the disabling transaction.
 */
export function subscriptionDisabledEvent(
  row: { id: string; organization_id: string; name: string; payload_url: string; failing_since: Date | string | null },
  reason: string,
  now: Date,
): NewEvent {
  return {
    type: SUBSCRIPTION_DISABLED_EVENT,
    organizationId: row.organization_id,
    data: {
      subscription_id: row.id,
      organization_id: row.organization_id,
      name: row.name,
      payload_url: row.payload_url,
      failing_since: row.failing_since === null ? null : fromDbDate(row.failing_since).toISOString(),
      disabled_at: now.toISOString(),
      reason,
    },
  };
}

/**
 * Endpoint health: a subscription whose every attempt has failed for WEBHOOKS_AUTO_DISABLE_AFTER_HOURS
 * (the delivery worker keeps `failing_since`, the start of its run of failures) is disabled, with a
 * `webhook.subscription.disabled` event through the outbox (so other subscriptions receive it) and a
 * warning in the log. Its pending deliveries are held (the worker claims only for enabled
 * subscriptions) until it is enabled again. Every replica checks every minute; the disabling UPDATE
 * is conditional, so one replica alone records the event. Only webhooks: a hook endpoint's enabled
 * flag is the hooks API's (src/hooks).
 */
@Injectable()
export class WebhookHealthJob implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhookHealthJob.name);
  private running: Promise<number> | null = null;

  constructor(
    @Inject(webhooksConfig.KEY) private readonly config: WebhooksConfig,
    private readonly transactions: TransactionRunner,
    private readonly outbox: OutboxService,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Optional() private readonly scheduler?: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.scheduler || this.config.autoDisableAfterMs === 0) return;
    this.scheduler.addInterval(INTERVAL, setInterval(() => void this.tick(), CHECK_EVERY_MS));
  }

  beforeApplicationShutdown(): void {
    if (this.scheduler?.doesExist('interval', INTERVAL)) this.scheduler.deleteInterval(INTERVAL);
  }

  private async tick(): Promise<void> {
    try {
      await this.check();
    } catch (error) {
      this.logger.error({ err: error }, 'webhook endpoint health check failed');
    }
  }

  /**
   * Disables every enabled subscription failing since before `now` minus the configured time;
   * returns how many. `now` is the check's clock (tests set it). A check already running in this
   * process is joined.
   */
  check(now: Date = new Date()): Promise<number> {
    this.running ??= this.disableFailing(now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async disableFailing(now: Date): Promise<number> {
    if (this.config.autoDisableAfterMs === 0) return 0;
    const cutoff = new Date(now.getTime() - this.config.autoDisableAfterMs);
    // Few rows: failing subscriptions only (the column is null for every healthy one).
    const candidates = await selectSql<FailingRow>(
      this.dataSource.manager,
      `SELECT id, organization_id, name, payload_url, failing_since FROM webhook_subscriptions
        WHERE enabled = ? AND kind = '${WebhookKind.Webhook}' AND failing_since IS NOT NULL AND failing_since <= ?`,
      [true, cutoff],
    );
    let disabled = 0;
    for (const row of candidates) {
      const failingSince = fromDbDate(row.failing_since);
      const hours = Math.round(this.config.autoDisableAfterMs / 3_600_000);
      const reason = `every attempt failed since ${failingSince.toISOString()} (more than ${hours} hours); disabled at ${now.toISOString()}`;
      const done = await this.transactions.run(async (em) => {
        // Conditional: a success, a user's change or another replica since the read above wins.
        const changed = await executeSql(
          em,
          `UPDATE webhook_subscriptions SET enabled = ?, disabled_reason = ?, disabled_at = ?, updated_at = ?
            WHERE id = ? AND enabled = ? AND failing_since IS NOT NULL AND failing_since <= ?`,
          [false, reason, now, now, row.id, true, cutoff],
        );
        if (changed === 0) return false;
        await this.outbox.record(em, subscriptionDisabledEvent(row, reason, now));
        return true;
      });
      if (!done) continue;
      disabled++;
      this.logger.warn(
        { subscriptionId: row.id, organizationId: row.organization_id, failingSince: failingSince.toISOString() },
        `webhook subscription ${row.id} disabled: ${reason}`,
      );
    }
    return disabled;
  }
}

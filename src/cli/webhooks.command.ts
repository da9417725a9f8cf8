import { InjectDataSource } from '@nestjs/typeorm';
import { Command, CommandRunner, Help, Option, SubCommand } from 'nest-commander';
import { DataSource } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { topOrganizationOf } from '../organizations/organization-tree';
import { DeliveryState, WebhookDelivery } from '../webhooks/webhook-delivery.entity';
import { WebhookDeliveriesService } from '../webhooks/webhook-deliveries.service';
import { WebhookSubscription } from '../webhooks/webhook-subscription.entity';
import { WebhookSubscriptionsService } from '../webhooks/webhook-subscriptions.service';
import { CommandGroup } from './command-group';

const PROGRESS_EVERY_MS = 1000;

/**
 * The operator acts for the top of the organization tree that holds the subscription, so the API's
 * services (and their rules: a disabled subscription is not redelivered to) apply unchanged.
 */
async function operatorFor(dataSource: DataSource, organizationId: string): Promise<VerifiedCaller> {
  return { userId: 'cli', login: 'cli', organizationId: (await topOrganizationOf(dataSource.manager, organizationId)) ?? organizationId };
}

interface RedeliverOptions {
  subscription?: string;
  failed?: boolean;
}

/** `webhooks redeliver`: replay deliveries (new deliveries of the same events), one by id or a subscription's failed ones. */
@SubCommand({ name: 'redeliver', arguments: '[delivery-ids...]', description: 'Redeliver deliveries by id, or --subscription <id> --failed' })
export class WebhooksRedeliverCommand extends CommandRunner {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly deliveries: WebhookDeliveriesService,
  ) {
    super();
  }

  async run(ids: string[], options: RedeliverOptions = {}): Promise<void> {
    const targets = ids.length > 0 ? ids : await this.failedOf(options);
    if (targets.length === 0) {
      process.stdout.write('nothing to redeliver\n');
      return;
    }
    let done = 0;
    let reported = Date.now();
    const failures: string[] = [];
    for (const id of targets) {
      const delivery = await this.dataSource.getRepository(WebhookDelivery).findOneBy({ id });
      const subscription = delivery ? await this.dataSource.getRepository(WebhookSubscription).findOneBy({ id: delivery.subscriptionId }) : null;
      if (!delivery || !subscription) {
        failures.push(`${id}: no such delivery`);
      } else {
        try {
          const copy = await this.deliveries.redeliver(await operatorFor(this.dataSource, subscription.organizationId), id);
          if (ids.length > 0) process.stdout.write(`${id} → new delivery ${copy.id} (event ${copy.event_id})\n`);
        } catch (error) {
          failures.push(`${id}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      done += 1;
      if (Date.now() - reported >= PROGRESS_EVERY_MS) {
        reported = Date.now();
        process.stdout.write(`progress: ${done} of ${targets.length}\n`);
      }
    }
    process.stdout.write(`redelivered ${targets.length - failures.length} of ${targets.length}; the service's worker sends them\n`);
    if (failures.length > 0) throw new Error(`not redelivered:\n  ${failures.join('\n  ')}`);
  }

  private async failedOf(options: RedeliverOptions): Promise<string[]> {
    if (!options.subscription || !options.failed) throw new Error('Give delivery ids, or --subscription <id> --failed.');
    const rows = await this.dataSource.getRepository(WebhookDelivery).find({
      select: { id: true },
      where: { subscriptionId: options.subscription, state: DeliveryState.Failed },
      order: { createdAt: 'ASC' },
    });
    return rows.map((r) => r.id);
  }

  @Option({ flags: '-s, --subscription <id>', description: 'with --failed: every failed delivery of this subscription' })
  parseSubscription(value: string): string {
    return value;
  }

  @Option({ flags: '--failed', description: 'redeliver the failed (dead-lettered) deliveries of --subscription' })
  parseFailed(): boolean {
    return true;
  }

  @Help('after')
  help(): string {
    return '\nEach redelivery is a new delivery with the same event id and body (so the same webhook-id); a running service sends it.\n';
  }
}

interface TestOptions {
  payload?: Record<string, unknown>;
}

/** `webhooks test <subscription-id>`: a TEST.WEBHOOK delivery now, not stored; prints what the receiver answered. */
@SubCommand({ name: 'test', arguments: '<subscription-id>', description: 'Send a TEST.WEBHOOK delivery now and print the answer' })
export class WebhooksTestCommand extends CommandRunner {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly subscriptions: WebhookSubscriptionsService,
  ) {
    super();
  }

  async run([id]: string[], options: TestOptions = {}): Promise<void> {
    const subscription = await this.dataSource.getRepository(WebhookSubscription).findOneBy({ id });
    if (!subscription) throw new Error(`No subscription with id "${id}".`);
    const result = await this.subscriptions.test(await operatorFor(this.dataSource, subscription.organizationId), id, options.payload);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (!result.success) throw new Error(`test delivery to ${subscription.payloadUrl} failed: ${result.error ?? `HTTP ${result.status}`}`);
  }

  @Option({ flags: '--payload <json>', description: 'the body to send (default {"CloudStack":"works!"})' })
  parsePayload(value: string): Record<string, unknown> {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('--payload must be a JSON object');
    return parsed as Record<string, unknown>;
  }
}

/** `webhooks <subscription>`: alone, it prints their list. */
@Command({ name: 'webhooks', description: 'Webhook tools (webhooks redeliver | test)', subCommands: [WebhooksRedeliverCommand, WebhooksTestCommand] })
export class WebhooksCommand extends CommandGroup {}

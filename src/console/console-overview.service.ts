import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import { ActionState } from '../actions/action.entity';
import { ActionLedgerService } from '../actions/action-ledger.service';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { s3EventsConfig, S3EventsConfig } from '../config/s3-events.config';
import { webhooksConfig, WebhooksConfig } from '../config/webhooks.config';
import { ConnectorItemState } from '../connector/connector-item.entity';
import { ConnectorItemsService } from '../connector/connector-items.service';
import { Organization } from '../organizations/organization.entity';
import { S3InboxState } from '../s3-events/s3-inbox-record.entity';
import { S3InboxService } from '../s3-events/s3-inbox.service';
import { DeliveryState } from '../webhooks/webhook-delivery.entity';
import { WebhookDeliveriesService } from '../webhooks/webhook-deliveries.service';

const PING_TIMEOUT_MS = 2000;
/** Failures of each kind read for the overview's "latest failures". */
const LATEST = 5;

export interface QueueCount {
  label: string;
  count: number;
  /** Counts that need attention are shown as such when not 0. */
  alarm?: boolean;
}

export interface QueueRow {
  name: string;
  href?: string;
  counts: QueueCount[];
}

export interface FailureRow {
  kind: string;
  at: string;
  what: string;
  error: string | null;
  href?: string;
}

export interface Overview {
  organization: { id: string; name: string } | null;
  database: { type: string; ok: boolean; ms: number };
  workers: Array<{ name: string; enabled: boolean }>;
  queues: QueueRow[];
  failures: FailureRow[];
  at: string;
}

/**
 * What the overview page shows, read through the same services as the APIs (each confines what
 * it reads to the caller's organization subtree): queue depths and the latest failures of
 * webhooks, connector items, the S3 inbox and actions, and this process's health.
 */
@Injectable()
export class ConsoleOverviewService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly deliveries: WebhookDeliveriesService,
    private readonly connector: ConnectorItemsService,
    private readonly inbox: S3InboxService,
    private readonly actions: ActionLedgerService,
    @Inject(webhooksConfig.KEY) private readonly webhooks: WebhooksConfig,
    @Inject(s3EventsConfig.KEY) private readonly s3: S3EventsConfig,
  ) {}

  async read(caller: VerifiedCaller): Promise<Overview> {
    const database = await this.ping();
    const organization = await this.dataSource.manager.findOne(Organization, { select: { id: true, name: true }, where: { id: caller.organizationId } });
    const [deliveries, deadLetters] = await Promise.all([
      this.deliveries.counts(caller),
      this.deliveries.list(caller, { success: false, replayed: false, limit: LATEST }),
    ]);
    const items = await this.connector.countByState(caller);
    const failedItems = await this.connector.list(caller, { state: ConnectorItemState.Failed, limit: LATEST });
    const inboxTotal = async (state: S3InboxState): Promise<number> => (await this.inbox.list(caller, { state, limit: '1' })).total;
    const failedInbox = await this.inbox.list(caller, { state: S3InboxState.Failed, limit: String(LATEST) });
    const actionTotal = async (state: ActionState): Promise<number> => (await this.actions.list(caller, { state, limit: 1 })).total;
    const failedActions = await this.actions.list(caller, { state: ActionState.Failed, limit: LATEST });
    const queues: QueueRow[] = [
      {
        name: 'Webhook deliveries',
        href: '/console/webhooks',
        counts: [
          { label: 'pending', count: deliveries.byState[DeliveryState.Pending] },
          { label: 'being sent', count: deliveries.byState[DeliveryState.Delivering] },
          { label: 'failed, not replayed', count: deliveries.deadLetters, alarm: true },
        ],
      },
      {
        name: 'Connector items',
        href: '/console/connector',
        counts: [
          { label: 'pending', count: items[ConnectorItemState.Pending] },
          { label: 'being sent', count: items[ConnectorItemState.Sending] },
          { label: 'failed', count: items[ConnectorItemState.Failed], alarm: true },
        ],
      },
      {
        name: 'S3 inbox',
        counts: [
          { label: 'pending', count: await inboxTotal(S3InboxState.Pending) },
          { label: 'processing', count: await inboxTotal(S3InboxState.Processing) },
          { label: 'failed', count: failedInbox.total, alarm: true },
        ],
      },
      {
        name: 'Actions',
        counts: [
          { label: 'pending', count: await actionTotal(ActionState.Pending) },
          { label: 'sent, not acknowledged', count: await actionTotal(ActionState.Sent) },
          { label: 'acknowledged, no result yet', count: await actionTotal(ActionState.Acknowledged) },
          { label: 'failed', count: failedActions.total, alarm: true },
        ],
      },
    ];
    const failures: FailureRow[] = [
      ...deadLetters.items.map((d) => ({
        kind: 'Webhook delivery',
        at: d.completed_at ?? d.updated_at,
        what: d.event_type,
        error: d.last_error,
        href: `/console/deliveries/${encodeURIComponent(d.id)}`,
      })),
      ...failedItems.items.map((i) => ({ kind: 'Connector item', at: i.updated_at, what: i.kind, error: i.last_error })),
      ...failedInbox.items.map((r) => ({ kind: 'S3 inbox record', at: r.completed_at ?? r.updated_at, what: `${r.event_name} ${r.bucket}/${r.key}`, error: r.last_error })),
      ...failedActions.items.map((a) => ({ kind: 'Action', at: a.completed_at ?? a.submitted_at, what: a.capability, error: a.result_code === null ? null : `result code ${a.result_code}` })),
    ]
      .sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : 0))
      .slice(0, 2 * LATEST);
    return {
      organization,
      database,
      workers: [
        { name: 'Webhook delivery worker', enabled: this.webhooks.workerEnabled },
        { name: 'S3 inbox worker', enabled: this.s3.workerEnabled },
      ],
      queues,
      failures,
      at: new Date().toISOString(),
    };
  }

  /** Whether the database answers `SELECT 1` within PING_TIMEOUT_MS, and how fast. */
  private async ping(): Promise<Overview['database']> {
    const type = this.dataSource.options.type === 'postgres' ? 'PostgreSQL' : 'SQLite';
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.dataSource.query('SELECT 1'),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), PING_TIMEOUT_MS))),
      ]);
      return { type, ok: true, ms: Math.round(performance.now() - start) };
    } catch {
      return { type, ok: false, ms: Math.round(performance.now() - start) };
    } finally {
      clearTimeout(timer);
    }
  }
}

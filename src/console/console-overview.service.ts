import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import { ActionState } from '../actions/action.entity';
import { ActionLedgerService } from '../actions/action-ledger.service';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { consoleConfig, ConsoleConfig } from '../config/console.config';
import { s3EventsConfig, S3EventsConfig } from '../config/s3-events.config';
import { webhooksConfig, WebhooksConfig } from '../config/webhooks.config';
import { ConnectorItemState } from '../connector/connector-item.entity';
import { ConnectorItemsService } from '../connector/connector-items.service';
import { Organization } from '../organizations/organization.entity';
import { S3InboxState } from '../s3-events/s3-inbox-record.entity';
import { S3InboxService } from '../s3-events/s3-inbox.service';
import { WebhookDeliveriesService } from '../webhooks/webhook-deliveries.service';
import { ListDeliveriesQueryDto } from '../webhooks/webhooks.dto';
import type { CappedCount } from '../common/state-counts';

const PING_TIMEOUT_MS = 2000;
/** Failures of each kind read for the overview's "latest failures". */
const LATEST = 5;
/** The window of the "last hour" figures. */
const WINDOW_MS = 3_600_000;

export interface QueueCount extends CappedCount {
  label: string;
  /** Counts that need attention are shown as such when not 0. */
  alarm?: boolean;
}

export interface QueueRow {
  name: string;
  href?: string;
  counts: QueueCount[];
  /** What happened in the last hour. */
  lastHour: QueueCount[];
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
  cap: number;
  at: string;
}

/**
 * What the overview page shows, read through the same services as the APIs (each confines what
 * it reads to the caller's organization subtree): queue depths, the last hour's throughput and the
 * latest failures of webhooks, connector items, the S3 inbox and actions, and this process's
 * health. Counts stop at CONSOLE_OVERVIEW_COUNT_CAP (1,000).
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
    @Inject(consoleConfig.KEY) private readonly config: ConsoleConfig,
  ) {}

  async read(caller: VerifiedCaller, now = new Date()): Promise<Overview> {
    const database = await this.ping();
    const organization = await this.dataSource.manager.findOne(Organization, { select: { id: true, name: true }, where: { id: caller.organizationId } });
    const since = new Date(now.getTime() - WINDOW_MS);
    const cap = this.config.overviewCountCap;
    const deliveries = await this.deliveries.depths(caller, since, cap);
    const deadLetters = await this.deliveries.page(caller, Object.assign(new ListDeliveriesQueryDto(), { success: false, replayed: false, limit: LATEST }));
    const items = await this.connector.figures(caller, since, cap);
    const failedItems = await this.connector.list(caller, { state: ConnectorItemState.Failed, limit: LATEST });
    const inbox = await this.inbox.figures(caller, since, cap);
    const failedInbox = await this.inbox.page(caller, { state: S3InboxState.Failed, limit: String(LATEST) });
    const actions = await this.actions.figures(caller, since, cap);
    const failedActions = await this.actions.page(caller, { state: ActionState.Failed, limit: LATEST });
    const queues: QueueRow[] = [
      {
        name: 'Webhook deliveries',
        href: '/console/webhooks',
        counts: [
          { label: 'pending', ...deliveries.pending },
          { label: 'being sent', ...deliveries.delivering },
          { label: 'failed, not replayed', ...deliveries.deadLetters, alarm: true },
        ],
        lastHour: [
          { label: 'created', ...deliveries.created },
          { label: 'succeeded', ...deliveries.succeeded },
          { label: 'failed', ...deliveries.failed, alarm: true },
        ],
      },
      {
        name: 'Connector items',
        href: '/console/connector',
        counts: [
          { label: 'pending', ...items.byState[ConnectorItemState.Pending] },
          { label: 'being sent', ...items.byState[ConnectorItemState.Sending] },
          { label: 'failed', ...items.byState[ConnectorItemState.Failed], alarm: true },
        ],
        lastHour: [{ label: 'submitted', ...items.created }],
      },
      {
        name: 'S3 inbox',
        href: '/console/s3-sources',
        counts: [
          { label: 'pending', ...inbox.byState[S3InboxState.Pending] },
          { label: 'processing', ...inbox.byState[S3InboxState.Processing] },
          { label: 'failed', ...inbox.byState[S3InboxState.Failed], alarm: true },
        ],
        lastHour: [{ label: 'received', ...inbox.created }],
      },
      {
        name: 'Actions',
        href: '/console/actions',
        counts: [
          { label: 'pending', ...actions.byState[ActionState.Pending] },
          { label: 'sent, not acknowledged', ...actions.byState[ActionState.Sent] },
          { label: 'acknowledged, no result yet', ...actions.byState[ActionState.Acknowledged] },
          { label: 'failed', ...actions.byState[ActionState.Failed], alarm: true },
        ],
        lastHour: [{ label: 'submitted', ...actions.created }],
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
      ...failedItems.items.map((i) => ({ kind: 'Connector item', at: i.updated_at, what: i.kind, error: i.last_error, href: `/console/connector/items/${encodeURIComponent(i.id)}` })),
      ...failedInbox.items.map((r) => ({ kind: 'S3 inbox record', at: r.completed_at ?? r.updated_at, what: `${r.event_name} ${r.bucket}/${r.key}`, error: r.last_error, href: `/console/s3-records/${encodeURIComponent(r.id)}` })),
      ...failedActions.items.map((a) => ({ kind: 'Action', at: a.completed_at ?? a.submitted_at, what: a.capability, error: a.result_code === null ? null : `result code ${a.result_code}`, href: `/console/actions/${encodeURIComponent(a.id)}` })),
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
      cap,
      at: now.toISOString(),
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

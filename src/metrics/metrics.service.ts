import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { CallbackRegistry } from '../callbacks/callback-registry.service';
import { metricsConfig, MetricsConfig } from '../config/metrics.config';
import { ConnectorItem, ConnectorItemState } from '../connector/connector-item.entity';
import { fromDbDate } from '../database/raw-dates';
import { TransactionRunner } from '../database/transaction-runner.service';
import { OutboxBackpressure } from '../events/outbox-backpressure';
import { DeliveryState, WebhookDelivery } from '../webhooks/webhook-delivery.entity';
import { WebhookSubscription } from '../webhooks/webhook-subscription.entity';
import { Counters } from './counters';

/** Callback IDs that are not served here (or could not be read) share this label value. */
export const UNKNOWN_CALLBACK = 'unknown';

const CALLBACK_ROUTE = '/callback';

interface QueueState {
  depth: number;
  oldestDue: Date | null;
}

type ItemCounts = Record<ConnectorItemState, number>;

/**
 * The service's Prometheus metrics, in a registry of this application instance (never prom-client's
 * global one: tests boot many apps in one process, and each must count its own). Counters are
 * incremented by the code that knows the outcome; the webhook queue and connector item gauges are
 * read from the database when scraped. Every label has a bounded set of values: callback IDs are the registered ones or
 * `unknown`, statuses are HTTP statuses, reasons and outcomes are fixed lists.
 */
@Injectable()
export class MetricsService implements OnApplicationBootstrap {
  private readonly logger = new Logger(MetricsService.name);
  private readonly callbacks: Counter<'callback_id' | 'status'>;
  private readonly callbackDuration: Histogram<'callback_id'>;
  private readonly commitGroups: Histogram;
  private readonly backpressureWaits: Histogram;
  private callbackRegistry: CallbackRegistry | null = null;
  /** The scrape's queue query, shared by the two gauges that read it. */
  private queueState: Promise<QueueState> | null = null;
  /** The scrape's connector item count, shared likewise. */
  private itemCounts: Promise<ItemCounts> | null = null;

  constructor(
    readonly registry: Registry,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(metricsConfig.KEY) private readonly config: MetricsConfig,
    private readonly adapterHost: HttpAdapterHost,
    private readonly moduleRef: ModuleRef,
  ) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.callbacks = new Counter({
      name: 'cyberapp_callbacks_total',
      help: 'Requests to POST /callback by callback ID and HTTP status, including those refused before dispatch.',
      labelNames: ['callback_id', 'status'],
      registers,
    });
    this.callbackDuration = new Histogram({
      name: 'cyberapp_callback_duration_seconds',
      help: 'Time to answer POST /callback, by callback ID.',
      labelNames: ['callback_id'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    // The counters others increment, registered here too, so that they are served before their first count.
    Counters.for(registry);
    this.commitGroups = new Histogram({
      name: 'cyberapp_sqlite_commit_group_size',
      help: 'SQLite: transactions per commit (group commit, SQLITE_GROUP_MAX); 1 for a transaction committed alone.',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.backpressureWaits = new Histogram({
      name: 'cyberapp_backpressure_wait_seconds',
      help: 'How long write callbacks were held back while deliveries were behind (WEBHOOKS_MAX_LAG_MS); only those held back.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    // Async collect() runs at scrape time (prom-client 15); the metrics of one scrape are gathered concurrently.
    const queueDepth: Gauge = new Gauge({
      name: 'cyberapp_webhook_queue_depth',
      help: 'Pending webhook deliveries that are due, of enabled subscriptions.',
      registers,
      collect: async () => {
        queueDepth.set((await this.readQueue()).depth);
      },
    });
    const oldestDueAge: Gauge = new Gauge({
      name: 'cyberapp_webhook_oldest_due_age_seconds',
      help: 'How long the oldest due webhook delivery of an enabled subscription has been waiting (0 when none).',
      registers,
      collect: async () => {
        const { depth, oldestDue } = await this.readQueue();
        if (Number.isNaN(depth)) oldestDueAge.set(NaN);
        else oldestDueAge.set(oldestDue ? Math.max(0, (Date.now() - oldestDue.getTime()) / 1000) : 0);
      },
    });
    // Connector outcomes are read from the items' states at scrape time, not counted where they are
    // recorded: every outcome is an item's state change, and this leaves the runner untouched.
    const connectorItems: Gauge<'state'> = new Gauge({
      name: 'cyberapp_connector_items',
      help: 'Connector items by state: pending (due, retrying later, or waiting for a mapping), sending, sent, failed.',
      labelNames: ['state'],
      registers,
      collect: async () => {
        const counts = await this.readItemCounts();
        for (const state of Object.values(ConnectorItemState)) connectorItems.set({ state }, counts[state]);
      },
    });
    const connectorPending: Gauge = new Gauge({
      name: 'cyberapp_connector_pending_items',
      help: 'Connector items waiting to be sent (pending: due, retrying later, or waiting for a tenant mapping).',
      registers,
      collect: async () => {
        connectorPending.set((await this.readItemCounts())[ConnectorItemState.Pending]);
      },
    });
  }

  onApplicationBootstrap(): void {
    if (!this.config.enabled) return;
    // Looked up rather than injected: metrics must not make every module depend on the callbacks'.
    try {
      this.callbackRegistry = this.moduleRef.get(CallbackRegistry, { strict: false });
    } catch {
      this.callbackRegistry = null;
    }
    if (this.dataSource.options.type === 'better-sqlite3') {
      // Looked up likewise: the database module stays free of metrics.
      try {
        this.moduleRef.get(TransactionRunner, { strict: false }).observeGroups((size) => this.commitGroups.observe(size));
      } catch {
        // No TransactionRunner in this application: nothing to count.
      }
    }
    try {
      this.moduleRef.get(OutboxBackpressure, { strict: false }).observeWaits((ms) => this.backpressureWaits.observe(ms / 1000));
    } catch {
      // No outbox in this application: nothing held back.
    }
    // A Fastify hook rather than a Nest interceptor: it also sees the requests that guards,
    // the body parser or the content-type check refuse (401, 413, 415, 429).
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    fastify?.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      if (request.routeOptions.url === CALLBACK_ROUTE && request.method === 'POST') {
        this.recordCallback(this.callbackLabel(request.body), reply.statusCode, reply.elapsedTime / 1000);
      }
      done();
    });
  }

  /** The Prometheus text exposition of every metric. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  recordCallback(callbackId: string, status: number, seconds: number): void {
    this.callbacks.inc({ callback_id: callbackId, status: String(status) });
    this.callbackDuration.observe({ callback_id: callbackId }, seconds);
  }

  private callbackLabel(body: unknown): string {
    const context = body !== null && typeof body === 'object' ? (body as { context?: unknown }).context : undefined;
    const id = context !== null && typeof context === 'object' ? (context as { callback_id?: unknown }).callback_id : undefined;
    // The registered (canonical) id: any v1.x / v2.0 prefix of the same callback counts under one label.
    return (typeof id === 'string' ? this.callbackRegistry?.get(id)?.callbackId : undefined) ?? UNKNOWN_CALLBACK;
  }

  private readQueue(): Promise<QueueState> {
    this.queueState ??= this.guarded('webhook queue', { depth: NaN, oldestDue: null }, async () => {
      const row = await this.dataSource
        .getRepository(WebhookDelivery)
        .createQueryBuilder('d')
        .select('COUNT(*)', 'depth')
        .addSelect('MIN(d.nextAttemptAt)', 'oldest')
        .innerJoin(WebhookSubscription, 's', 's.id = d.subscriptionId AND s.enabled = :enabled', { enabled: true })
        // The state as a literal: SQLite uses the partial pending index only for a literal.
        .where(`d.state = '${DeliveryState.Pending}' AND d.nextAttemptAt <= :now`, { now: new Date() })
        .getRawOne<{ depth: number | string; oldest: Date | string | null }>();
      return { depth: Number(row?.depth ?? 0), oldestDue: row?.oldest ? fromDbDate(row.oldest) : null };
    }).finally(() => {
      this.queueState = null;
    });
    return this.queueState;
  }

  private readItemCounts(): Promise<ItemCounts> {
    const counts = (fill: number) => Object.fromEntries(Object.values(ConnectorItemState).map((state) => [state, fill])) as ItemCounts;
    this.itemCounts ??= this.guarded('connector items', counts(NaN), async () => {
      const rows = await this.dataSource
        .getRepository(ConnectorItem)
        .createQueryBuilder('i')
        .select('i.state', 'state')
        .addSelect('COUNT(*)', 'count')
        .groupBy('i.state')
        .getRawMany<{ state: string; count: number | string }>();
      const result = counts(0);
      for (const row of rows) if (row.state in result) result[row.state as ConnectorItemState] = Number(row.count);
      return result;
    }).finally(() => {
      this.itemCounts = null;
    });
    return this.itemCounts;
  }

  /** A gauge whose query fails shows `fallback` (NaN) for this scrape; the other metrics are still served. */
  private async guarded<T>(what: string, fallback: T, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      this.logger.warn({ err: error }, `metrics: could not read the ${what}`);
      return fallback;
    }
  }
}

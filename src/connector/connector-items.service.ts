import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomUUID } from 'node:crypto';
import { DataSource, EntityManager, In } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { hasControlCharacters } from '../common/printable';
import { queueFigures, QueueFigures } from '../common/state-counts';
import { TransactionRunner } from '../database/transaction-runner.service';
import { confineToSubtree, isVisibleOrganization, newestAcrossSubtree, olderThanCursor } from '../organizations/organization-tree';
import { isConcurrencyConflict } from '../database/unique-violation';
import type { AlertBody, AlertDismissalBody, ItemBody, WorkloadBody, WorkloadRemovalBody } from './acronis-api.types';
import { IntakeBatchDto, IntakeItemDto, LIST_LIMIT_DEFAULT, ListItemsQueryDto } from './connector-intake.dto';
import { ConnectorItem, ConnectorItemKind, ConnectorItemSource, ConnectorItemState } from './connector-item.entity';
import { ConnectorTrigger } from './connector-trigger.service';
import { findWorkloadRow, wantWorkload } from './connector-sync';
import { ConnectorWorkload } from './connector-workload.entity';
import { ConnectorItemDetailView, ConnectorItemPage, ConnectorItemView, IntakeResultItem } from './connector.views';
import { chunks } from '../common/chunks';

const MAX_WRITE_ATTEMPTS = 5;
/** Keeps every statement well under SQLite's and PostgreSQL's bound-parameter limits. */
const KEYS_PER_QUERY = 500;
const ROWS_PER_INSERT = 200;
const FOREIGN_ORGANIZATION = 'organization_id is not your organization or one below it.';
/** The states "send now" takes an item from. */
const SENDABLE_NOW = [ConnectorItemState.Pending, ConnectorItemState.Failed];

interface PreparedItem {
  key: string;
  kind: ConnectorItemKind;
  body: ItemBody;
  fingerprint: string;
}

/** JSON with object keys sorted at every level, so that equal bodies hash equally. */
function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sort(o[k])]));
    }
    return v;
  };
  return JSON.stringify(sort(value));
}

/** The identity of what an item says: sha256 of the canonical JSON of its kind and body. */
export function itemFingerprint(kind: ConnectorItemKind, body: ItemBody): string {
  return createHash('sha256').update(canonicalJson({ kind, body })).digest('hex');
}

/** What a new item needs; everything else starts as a pending item, due at `now`. */
export interface NewPendingItem {
  id?: string;
  organizationId: string;
  kind: ConnectorItemKind;
  source: ConnectorItemSource;
  idempotencyKey: string | null;
  body: ItemBody;
  now: Date;
}

/**
 * A pending item ready to insert, the one row builder used by the intake, the demo generator,
 * the test factories and the benchmark. The body is copied, so later changes to the input do not
 * leak into the row.
 */
export function newPendingItem(input: NewPendingItem): ConnectorItem {
  return Object.assign(new ConnectorItem(), {
    id: input.id ?? randomUUID(),
    organizationId: input.organizationId,
    kind: input.kind,
    source: input.source,
    idempotencyKey: input.idempotencyKey,
    fingerprint: itemFingerprint(input.kind, input.body),
    body: { ...input.body },
    state: ConnectorItemState.Pending,
    attempts: 0,
    nextAttemptAt: input.now,
    lockedUntil: null,
    acronisTenantId: null,
    acronisDcUrl: null,
    dismissedAt: null,
    remoteId: null,
    lastStatus: null,
    lastError: null,
    waitingReason: null,
    createdAt: input.now,
    updatedAt: input.now,
    sentAt: null,
  });
}

/** The body to store and send, built field by field from the validated DTO (defaults filled in). */
function bodyOf(item: IntakeItemDto): ItemBody {
  if (item.kind === ConnectorItemKind.Alert && item.alert) {
    const { type, category, details, ResourceID, ResourceName } = item.alert;
    const alert: AlertBody = {
      type,
      category,
      details: { title: details.title, category: details.category, description: details.description },
    };
    if (details.fields != null) alert.details.fields = { ...details.fields };
    if (ResourceID !== undefined && ResourceName !== undefined) Object.assign(alert, { ResourceID, ResourceName });
    return alert;
  }
  if (item.kind === ConnectorItemKind.Workload && item.workload) {
    const { key, type, name, attributes, allowed_actions, enabled } = item.workload;
    return {
      key,
      type,
      name,
      attributes: JSON.parse(JSON.stringify(attributes)) as Record<string, unknown>,
      allowed_actions: allowed_actions ? [...allowed_actions] : [],
      enabled: enabled ?? true,
    };
  }
  if (item.kind === ConnectorItemKind.AlertDismissal && item.alert_dismissal) {
    // The alert item's id is filled in when the batch is stored (it must exist).
    return { alert_key: item.alert_dismissal.alert_key, alert_item_id: '' } satisfies AlertDismissalBody;
  }
  if (item.kind === ConnectorItemKind.WorkloadRemoval && item.workload_removal) {
    return { type: item.workload_removal.type, key: item.workload_removal.key } satisfies WorkloadRemovalBody;
  }
  // Unreachable after validation: the DTO requires the body of the item's kind.
  throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: the item has no ${item.kind} body.`);
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function viewOf(item: ConnectorItem): ConnectorItemView {
  return {
    id: item.id,
    organization_id: item.organizationId,
    kind: item.kind,
    source: item.source,
    idempotency_key: item.idempotencyKey,
    state: item.state,
    attempts: item.attempts,
    next_attempt_at: item.nextAttemptAt.toISOString(),
    last_status: item.lastStatus,
    last_error: item.lastError,
    waiting_reason: item.waitingReason,
    remote_id: item.remoteId,
    acronis_tenant_id: item.acronisTenantId,
    acronis_dc_url: item.acronisDcUrl,
    dismissed_at: iso(item.dismissedAt),
    created_at: item.createdAt.toISOString(),
    updated_at: item.updatedAt.toISOString(),
    sent_at: iso(item.sentAt),
  };
}

/** The states the overview counts. */
export const ITEM_QUEUE_STATES = [ConnectorItemState.Pending, ConnectorItemState.Sending, ConnectorItemState.Failed] as const;

/**
 * The intake queue of the connector: alerts and workloads the vendor's systems submit for one of
 * their organizations, stored once per (organization, idempotency key) and listed with their state.
 * Every read and write is confined to the caller's organization and its subtree.
 */
@Injectable()
export class ConnectorItemsService {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly trigger: ConnectorTrigger,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /**
   * Stores a batch all or nothing. A key already stored with the same body is a replay and answers
   * with the stored item; with another body the whole batch is refused (409).
   */
  async submit(caller: VerifiedCaller, batch: IntakeBatchDto): Promise<IntakeResultItem[]> {
    const organizationId = batch.organization_id;
    const prepared = batch.items.map((item): PreparedItem => {
      const body = bodyOf(item);
      return { key: item.idempotency_key, kind: item.kind, body, fingerprint: itemFingerprint(item.kind, body) };
    });
    // On PostgreSQL an identical batch running at the same time makes this one's insert fail on the
    // unique key once the other commits: running again then finds its rows and answers as a replay.
    for (let attempt = 1; ; attempt++) {
      try {
        const results = await this.transactions.run(async (em) => {
          if (!(await isVisibleOrganization(em, caller, organizationId))) throw new DomainError(ErrorCode.Forbidden, FOREIGN_ORGANIZATION);
          return this.store(em, organizationId, prepared);
        });
        if (batch.send_now) this.trigger.request({ reason: 'intake', organizationId, itemIds: results.map((r) => r.id) });
        return results;
      } catch (error) {
        if (!isConcurrencyConflict(error)) throw error;
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new DomainError(ErrorCode.Conflict, 'A concurrent change conflicted with this request; retry it.');
        }
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
      }
    }
  }

  private async store(em: EntityManager, organizationId: string, prepared: PreparedItem[]): Promise<IntakeResultItem[]> {
    const stored = new Map<string, Pick<ConnectorItem, 'id' | 'idempotencyKey' | 'kind' | 'state' | 'fingerprint'>>();
    for (const keys of chunks(prepared.map((p) => p.key), KEYS_PER_QUERY)) {
      const rows = await em.find(ConnectorItem, {
        select: { id: true, idempotencyKey: true, kind: true, state: true, fingerprint: true },
        where: { organizationId, idempotencyKey: In(keys) },
      });
      for (const row of rows) if (row.idempotencyKey !== null) stored.set(row.idempotencyKey, row);
    }

    const now = new Date();
    const fresh: ConnectorItem[] = [];
    const results: IntakeResultItem[] = [];
    for (const [index, item] of prepared.entries()) {
      if (item.kind === ConnectorItemKind.AlertDismissal) {
        // Resolved first: the fingerprint covers the alert item it names, so a replay compares equal.
        const body = item.body as AlertDismissalBody;
        body.alert_item_id = await this.alertItemId(em, organizationId, body.alert_key, fresh, index);
        item.fingerprint = itemFingerprint(item.kind, body);
      }
      const existing = stored.get(item.key);
      if (existing) {
        if (existing.fingerprint !== item.fingerprint) {
          throw new DomainError(
            ErrorCode.IdempotencyMismatch,
            `items.${index}.idempotency_key was already used for a different item in this organization.`,
          );
        }
        results.push({ id: existing.id, idempotency_key: item.key, kind: existing.kind, state: existing.state, created: false });
        continue;
      }
      await this.applyDesiredState(em, organizationId, item, index);
      const row = newPendingItem({
        organizationId,
        kind: item.kind,
        source: ConnectorItemSource.Intake,
        idempotencyKey: item.key,
        body: item.body,
        now,
      });
      fresh.push(row);
      results.push({ id: row.id, idempotency_key: item.key, kind: item.kind, state: row.state, created: true });
    }

    // In key order, so that two overlapping batches on PostgreSQL wait on each other rather than deadlock.
    fresh.sort((a, b) => ((a.idempotencyKey ?? '') < (b.idempotencyKey ?? '') ? -1 : 1));
    for (const rows of chunks(fresh, ROWS_PER_INSERT)) {
      // simple-json columns are serialized by TypeORM; its partial-entity type cannot express that.
      await em.insert(ConnectorItem, rows as QueryDeepPartialEntity<ConnectorItem>[]);
    }
    return results;
  }

  /** The id of the alert item an `alert_dismissal` names: stored, or earlier in the same batch (404 otherwise). */
  private async alertItemId(em: EntityManager, organizationId: string, alertKey: string, earlier: ConnectorItem[], index: number): Promise<string> {
    const inBatch = earlier.find((row) => row.kind === ConnectorItemKind.Alert && row.idempotencyKey === alertKey);
    if (inBatch) return inBatch.id;
    const stored = await em.findOne(ConnectorItem, { select: { id: true }, where: { organizationId, idempotencyKey: alertKey, kind: ConnectorItemKind.Alert } });
    if (!stored) throw new DomainError(ErrorCode.NotFound, `items.${index}.alert_dismissal.alert_key names no alert of this organization.`);
    return stored.id;
  }

  /** What a new workload item or removal wants of its device, recorded with it (see ConnectorWorkload). */
  private async applyDesiredState(em: EntityManager, organizationId: string, item: PreparedItem, index: number): Promise<void> {
    if (item.kind === ConnectorItemKind.Workload) {
      await wantWorkload(em, organizationId, item.body as WorkloadBody & { key: string });
    } else if (item.kind === ConnectorItemKind.WorkloadRemoval) {
      const { type, key } = item.body as WorkloadRemovalBody;
      const row = await findWorkloadRow(em, organizationId, type, key);
      if (!row) throw new DomainError(ErrorCode.NotFound, `items.${index}.workload_removal names no workload of this organization with that type and key.`);
      if (!row.deleted) await em.update(ConnectorWorkload, { id: row.id }, { deleted: true });
    }
  }

  /**
   * Items of one organization of the caller's subtree, or of all of them, newest first
   * (`created_at`, then `id`), `limit` at a time; `before` is the id of the last item seen.
   */
  async list(caller: VerifiedCaller, query: ListItemsQueryDto): Promise<ConnectorItemPage> {
    const em = this.dataSource.manager;
    const limit = query.limit ?? LIST_LIMIT_DEFAULT;
    if (query.organization_id !== undefined && !(await isVisibleOrganization(em, caller, query.organization_id))) {
      throw new DomainError(ErrorCode.Forbidden, FOREIGN_ORGANIZATION);
    }
    const qb = em.createQueryBuilder(ConnectorItem, 'i');
    if (query.organization_id !== undefined) qb.where('i.organization_id = :organizationId', { organizationId: query.organization_id });
    if (query.state !== undefined) qb.andWhere('i.state = :state', { state: query.state });
    if (query.kind !== undefined) qb.andWhere('i.kind = :kind', { kind: query.kind });
    if (query.before !== undefined) {
      await olderThanCursor(qb, caller, query.before, { timeColumn: 'created_at', owner: 'organizationId', refusal: 'Invalid request: before must be the id of an item you can see.' });
    }
    const rows =
      query.organization_id !== undefined
        ? await qb.orderBy('i.created_at', 'DESC').addOrderBy('i.id', 'DESC').limit(limit + 1).getMany()
        : await newestAcrossSubtree(qb, { root: caller.organizationId, organizationColumn: 'i.organization_id', timeColumn: 'i.created_at', timeProperty: 'createdAt', limit: limit + 1 });
    const page = rows.slice(0, limit);
    return { items: page.map(viewOf), next_before: rows.length > limit ? page[page.length - 1].id : null };
  }

  /** The overview's figures: items waiting, being sent and failed, and items created since `since`, each counted up to `cap`. */
  async figures(caller: VerifiedCaller, since: Date, cap: number): Promise<QueueFigures<(typeof ITEM_QUEUE_STATES)[number]>> {
    const visible = () => confineToSubtree(this.dataSource.manager.createQueryBuilder(ConnectorItem, 'i'), 'i.organization_id', caller.organizationId);
    return queueFigures(visible, 'i', ITEM_QUEUE_STATES, 'created_at', since, cap);
  }

  /** One item of the caller's subtree; another organization's item is as unknown as a missing one (404). */
  async get(caller: VerifiedCaller, id: string): Promise<ConnectorItemDetailView> {
    const item = await this.findVisible(this.dataSource.manager, caller, id);
    const view: ConnectorItemDetailView = viewOf(item);
    if (item.kind === ConnectorItemKind.Alert) view.alert = item.body as unknown as AlertBody;
    else if (item.kind === ConnectorItemKind.Workload) view.workload = item.body as unknown as WorkloadBody;
    else if (item.kind === ConnectorItemKind.AlertDismissal) view.alert_dismissal = { alert_key: (item.body as unknown as AlertDismissalBody).alert_key };
    else view.workload_removal = item.body as unknown as WorkloadRemovalBody;
    return view;
  }

  /**
   * "Send now": a pending or failed item of the caller's subtree becomes pending and due at once,
   * and a run is asked for (ConnectorTrigger). Its attempt count goes on (it numbers the claims),
   * so a failed item gets one more attempt, and its retries only if CONNECTOR_MAX_ATTEMPTS is not
   * reached yet; its last error stays until the next outcome replaces it. Another organization's
   * item is 404; one being sent, sent or cancelled is 409.
   */
  async sendNow(caller: VerifiedCaller, id: string): Promise<ConnectorItemView> {
    const item = await this.transactions.run(async (em) => {
      const found = await this.findVisible(em, caller, id);
      const now = new Date();
      const changed = await em
        .createQueryBuilder()
        .update(ConnectorItem)
        .set({ state: ConnectorItemState.Pending, nextAttemptAt: now, waitingReason: null, updatedAt: now })
        .where('id = :id', { id: found.id })
        .andWhere('state IN (:...states)', { states: SENDABLE_NOW })
        .execute();
      if (!changed.affected) {
        const current = await em.findOne(ConnectorItem, { select: { id: true, state: true }, where: { id: found.id } });
        throw new DomainError(ErrorCode.Conflict, `The item is ${current?.state ?? found.state}: only pending and failed items can be sent now.`);
      }
      return Object.assign(found, { state: ConnectorItemState.Pending, nextAttemptAt: now, waitingReason: null, updatedAt: now });
    });
    this.trigger.request({ reason: 'send-now', organizationId: item.organizationId, itemIds: [item.id] });
    return viewOf(item);
  }

  private async findVisible(em: EntityManager, caller: VerifiedCaller, id: string): Promise<ConnectorItem> {
    const item = id.length <= 64 && !hasControlCharacters(id) ? await em.findOne(ConnectorItem, { where: { id } }) : null;
    if (!item || !(await isVisibleOrganization(em, caller, item.organizationId))) {
      throw new DomainError(ErrorCode.NotFound, 'Connector item not found.');
    }
    return item;
  }
}

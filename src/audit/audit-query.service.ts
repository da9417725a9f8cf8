import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { fromDbDate } from '../database/raw-dates';
import { Condition, inSubtree, isVisibleOrganization } from '../organizations/organization-tree';
import { idFloor, isRecordId } from './audit-ids';
import { AuditOutcome } from './audit-record.entity';
import { AUDIT_LIMIT_DEFAULT, ListAuditQueryDto } from './audit.dto';
import { AuditChain, AuditPage, AuditRecordView } from './audit.views';

/** A record as the database returns it: the view's columns, the time, duration and detail not decoded yet. */
type RecordRow = Omit<AuditRecordView, 'at' | 'duration_ms' | 'detail'> & {
  at: Date | string;
  duration_ms: number | string | null;
  detail: string | null;
};

const NOT_FOUND = 'Audit record not found.';
/** How far a chain is followed up, and how many records it shows below (a fan-out to many subscriptions stops there). */
const MAX_CAUSES = 16;
const MAX_DEPTH = 6;
const MAX_CAUSED = 500;
const SEARCHED = ['request_id', 'event_id', 'work_id', 'action_id', 'delivery_id', 'id'];

/** `SELECT r.*` returns the view's columns in the view's order (the table was made so): only these three need decoding. */
function viewOf(r: RecordRow): AuditRecordView {
  return {
    ...r,
    at: fromDbDate(r.at).toISOString(),
    duration_ms: r.duration_ms === null ? null : Number(r.duration_ms),
    detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
  };
}

/**
 * Reads the audit trail for a caller: the records of its organization and of every organization
 * below it (the same subtree rule as every API, src/organizations/organization-tree.ts); another
 * organization's record is "not found". Newest first, paged by key (the id, a UUIDv7), never counted.
 */
@Injectable()
export class AuditQueryService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async list(caller: VerifiedCaller, query: ListAuditQueryDto): Promise<AuditPage> {
    const em = this.dataSource.manager;
    if (query.organization_id !== undefined && !(await isVisibleOrganization(em, caller, query.organization_id))) throw new DomainError(ErrorCode.NotFound, 'Organization not found.');
    const scope = this.scope(caller, query.organization_id);
    const where: string[] = [scope.sql];
    const params: Record<string, unknown> = { ...scope.params };
    const add = (condition: string, name: string, value: unknown): void => {
      where.push(condition);
      params[name] = value;
    };
    if (query.kind !== undefined) add('r.kind = :kind', 'kind', query.kind);
    // A literal, not a parameter: the failures' partial index is used only for the very condition it was made with.
    if (query.outcome !== undefined) where.push(`r.outcome = '${query.outcome === AuditOutcome.Failed ? AuditOutcome.Failed : AuditOutcome.Ok}'`);
    if (query.tenant_id !== undefined) add('r.tenant_id = :tenant', 'tenant', query.tenant_id);
    const from = query.from === undefined ? null : new Date(query.from);
    const to = query.to === undefined ? null : new Date(query.to);
    if (from && to && from > to) throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: query.from must not be after query.to.');
    // Ids are UUIDv7: a time bound is a key bound (audit-ids.ts).
    if (from) add('r.id >= :from', 'from', idFloor(from));
    if (to) add('r.id < :to', 'to', idFloor(to));
    if (query.before !== undefined) add('r.id < :before', 'before', query.before);
    if (query.q !== undefined) add(`(${SEARCHED.map((c) => `r.${c} = :q`).join(' OR ')})`, 'q', query.q);
    const limit = query.limit ?? AUDIT_LIMIT_DEFAULT;
    const rows = await this.select(em, `SELECT r.* FROM audit_records r WHERE ${where.join(' AND ')} ORDER BY r.id DESC LIMIT ${limit + 1}`, params);
    const items = rows.slice(0, limit).map(viewOf);
    return { items, next_before: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
  }

  /** The record with what caused it and what it caused, each as far as the caller can see. */
  async get(caller: VerifiedCaller, id: string): Promise<AuditChain> {
    const em = this.dataSource.manager;
    const [row] = isRecordId(id) ? await this.visible(em, caller, [id]) : [];
    if (!row) throw new DomainError(ErrorCode.NotFound, NOT_FOUND);
    const up: RecordRow[] = [];
    for (let cause = row.cause_id; cause !== null && up.length < MAX_CAUSES; ) {
      const [parent] = await this.select(em, 'SELECT r.* FROM audit_records r WHERE r.id = :id', { id: cause });
      if (!parent) break;
      up.push(parent);
      cause = parent.cause_id;
    }
    const down: RecordRow[] = [];
    let frontier = [row.id];
    for (let depth = 0; depth < MAX_DEPTH && frontier.length > 0 && down.length < MAX_CAUSED; depth++) {
      const children = await this.select(
        em,
        `SELECT r.* FROM audit_records r WHERE r.cause_id IN (:...frontier) ORDER BY r.id LIMIT ${MAX_CAUSED - down.length}`,
        { frontier },
      );
      down.push(...children);
      frontier = children.map((c) => c.id);
    }
    const seen = new Set((await this.visible(em, caller, [...up, ...down].map((r) => r.id))).map((r) => r.id));
    return {
      record: viewOf(row),
      caused_by: up.filter((r) => seen.has(r.id)).map(viewOf),
      caused: down.filter((r) => seen.has(r.id)).sort((a, b) => (a.id < b.id ? -1 : 1)).map(viewOf),
    };
  }

  /** The records among `ids` that the caller may see. */
  private async visible(em: EntityManager, caller: VerifiedCaller, ids: string[]): Promise<RecordRow[]> {
    if (ids.length === 0) return [];
    const scope = this.scope(caller);
    return this.select(em, `SELECT r.* FROM audit_records r WHERE r.id IN (:...ids) AND ${scope.sql}`, { ids, ...scope.params });
  }

  /** The records a caller reads: its subtree's, or one organization's of it (already known to be visible). */
  private scope(caller: VerifiedCaller, organizationId?: string): Condition {
    return organizationId === undefined ? inSubtree('r.organization_id', caller.organizationId) : { sql: 'r.organization_id = :organization', params: { organization: organizationId } };
  }

  private select(em: EntityManager, sql: string, params: Record<string, unknown>): Promise<RecordRow[]> {
    const [text, values] = em.connection.driver.escapeQueryWithParameters(sql, params, {});
    return em.query(text, values);
  }
}

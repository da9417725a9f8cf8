import type { EntityManager, FindOptionsWhere, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { isLookupId } from '../common/ids';

/**
 * The organization tree's queries, written once (docs/architecture.md, the organization tree):
 * every module that confines rows to a caller's subtree, walks up to an organization's
 * ancestors or pages the newest rows of a subtree does it through this file. Recursive CTEs that
 * run on SQLite and PostgreSQL.
 */

/** The ids of the organization `:subtreeRoot` and of every organization below it. */
const SUBTREE_SQL = `WITH RECURSIVE subtree(id) AS (
    SELECT id FROM organizations WHERE id = :subtreeRoot
    UNION
    SELECT o.id FROM organizations o JOIN subtree s ON o.parent_id = s.id
  )
  SELECT id FROM subtree`;

/**
 * `WITH RECURSIVE up(id, parent_id)`: the organizations `start` selects (as `id, parent_id` rows
 * of `organizations`) and their ancestors up to the top. Followed by the statement that reads `up`.
 */
export function ancestryCte(start: string): string {
  return `WITH RECURSIVE up(id, parent_id) AS (
    ${start}
    UNION
    SELECT o.id, o.parent_id FROM organizations o JOIN up ON o.id = up.parent_id
  )`;
}

/** The organization `:organization` and its ancestors, from it up to the top, as `up(id, parent_id)`. */
const UP_SQL = ancestryCte('SELECT id, parent_id FROM organizations WHERE id = :organization');

/** A condition with its named parameters, for a QueryBuilder (`andWhere(sql, params)`) or raw SQL (`escapeQueryWithParameters`). */
export interface Condition {
  sql: string;
  params: Record<string, string>;
}

/** `column` is the organization `root` or one below it (parameter `subtreeRoot`). */
export function inSubtree(column: string, root: string): Condition {
  return { sql: `${column} IN (${SUBTREE_SQL})`, params: { subtreeRoot: root } };
}

/** Confines the query to the rows whose `column` is the organization `root` or one below it. */
export function confineToSubtree<T extends ObjectLiteral>(qb: SelectQueryBuilder<T>, column: string, root: string): SelectQueryBuilder<T> {
  const { sql, params } = inSubtree(column, root);
  return qb.andWhere(sql, params);
}

/** `column` is the organization `organization` or one of its ancestors (parameter `organization`). */
export function inAncestry(column: string, organization: string): Condition {
  return { sql: `${column} IN (${UP_SQL} SELECT id FROM up)`, params: { organization } };
}

async function run<R>(em: EntityManager, sql: string, params: Record<string, unknown>): Promise<R[]> {
  const [text, values] = em.connection.driver.escapeQueryWithParameters(sql, params, {});
  return em.query(text, values);
}

/** The ids of the organization and of every organization below it. */
export async function subtreeIds(em: EntityManager, root: string): Promise<string[]> {
  return (await run<{ id: string }>(em, SUBTREE_SQL, { subtreeRoot: root })).map((r) => r.id);
}

/** The organization and its ancestors, itself first and the top last; empty for an unknown organization. */
export async function ancestryOf(em: EntityManager, organization: string): Promise<string[]> {
  const rows = await run<{ id: string; parent_id: string | null }>(em, `${UP_SQL} SELECT id, parent_id FROM up`, { organization });
  const parentOf = new Map(rows.map((r) => [r.id, r.parent_id]));
  const chain: string[] = [];
  for (let id: string | null = parentOf.has(organization) ? organization : null; id !== null && !chain.includes(id); id = parentOf.get(id) ?? null) chain.push(id);
  return chain;
}

/**
 * Whether the organization is the caller's or below it. Walks up from the organization (the
 * depth of the tree) rather than loading the caller's subtree. An unknown organization is not
 * visible either: callers cannot tell an unknown id from another partner's.
 */
export async function isVisibleOrganization(em: EntityManager, caller: VerifiedCaller, organizationId: string): Promise<boolean> {
  if (organizationId === caller.organizationId) return true;
  const rows = await run(em, `${UP_SQL} SELECT id FROM up WHERE id = :caller`, { organization: organizationId, caller: caller.organizationId });
  return rows.length > 0;
}

/** The top of the tree the organization is in (the organization itself at the top), or null if unknown. */
export async function topOrganizationOf(em: EntityManager, organizationId: string): Promise<string | null> {
  const rows = await run<{ id: string }>(em, `${UP_SQL} SELECT id FROM up WHERE parent_id IS NULL`, { organization: organizationId });
  return rows[0]?.id ?? null;
}

/** Over this many organizations, SQLite reads a subtree's newest rows in one query rather than one per organization. */
const MERGE_ORGANIZATIONS_MAX = 50;

/** How {@link newestAcrossSubtree} finds and orders the rows. */
export interface NewestAcrossSubtree<T> {
  /** The caller's organization: the top of the subtree. */
  root: string;
  /** The organization column, with the query's alias (`a.organization_id`). */
  organizationColumn: string;
  /** The time column that orders the rows (`a.submitted_at`) and its property (`submittedAt`), newest first; the id breaks ties. */
  timeColumn: string;
  timeProperty: keyof T;
  limit: number;
}

/**
 * The newest `limit` rows of the query (its filters, no organization condition) across the
 * subtree, newest first (the time column, then `id`), each organization's newest rows read on its
 * own `(organization, time)` index range and merged: the cost grows with the subtree's size and the
 * page, never with the table. (Measured in bench/subtree-newest.experiment.ts against the other
 * technique the code had, a unary `+` steering SQLite onto the newest-first index: that one read
 * every newer row of the table when the subtree's rows were old, 94 ms at 200,000 rows.)
 * PostgreSQL: one statement, a LATERAL subquery per organization. SQLite (no LATERAL, no round
 * trips either): one query per organization, up to {@link MERGE_ORGANIZATIONS_MAX} of them.
 */
export async function newestAcrossSubtree<T extends ObjectLiteral>(qb: SelectQueryBuilder<T>, options: NewestAcrossSubtree<T>): Promise<T[]> {
  const { root, organizationColumn, timeColumn, timeProperty, limit } = options;
  const alias = qb.alias;
  const newest = (q: SelectQueryBuilder<T>): SelectQueryBuilder<T> => q.orderBy(timeColumn, 'DESC').addOrderBy(`${alias}.id`, 'DESC').limit(limit);
  if (qb.connection.options.type === 'postgres') {
    const perOrganization = newest(qb.clone().select(`${alias}.id`, 'id').andWhere(`${organizationColumn} = subtree_member.id`));
    return newest(
      qb
        .clone()
        .where(`${alias}.id IN (SELECT page.id FROM (${SUBTREE_SQL}) subtree_member CROSS JOIN LATERAL (${perOrganization.getQuery()}) page)`)
        .setParameters({ ...perOrganization.getParameters(), subtreeRoot: root }),
    ).getMany();
  }
  const organizations = await subtreeIds(qb.connection.manager, root);
  if (organizations.length > MERGE_ORGANIZATIONS_MAX) return newest(confineToSubtree(qb.clone(), organizationColumn, root)).getMany();
  const parts: T[][] = [];
  for (const organization of organizations) parts.push(await newest(qb.clone().andWhere(`${organizationColumn} = :subtreeMember`, { subtreeMember: organization })).getMany());
  const time = (row: T): number => (row[timeProperty] as Date).getTime();
  return parts
    .flat()
    .sort((a, b) => time(b) - time(a) || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0))
    .slice(0, limit);
}

/** How {@link olderThanCursor} reads a `before` cursor. */
export interface BeforeCursor<T> {
  /** The time column that orders the page, newest first with the id, without alias (`created_at`). */
  timeColumn: string;
  /** The cursor row's owner (`organizationId`): an organization the caller must see, unless `visible` says otherwise. */
  owner: keyof T & string;
  /** What else the cursor row must be (`{ kind: WebhookKind.Hook }`). */
  where?: FindOptionsWhere<T>;
  /** Whether the caller sees an owner that is not an organization (a delivery's subscription). */
  visible?: (owner: string) => Promise<boolean>;
  /** The 400's message, worded as each API has always worded it. */
  refusal: string;
}

/**
 * Pages by key: keeps the rows of the query older than the row `before` names (the time column,
 * then `id`). That row must be one of the query's table that the caller can see; any other id,
 * unknown ones alike, is a 400 with the cursor's `refusal`.
 */
export async function olderThanCursor<T extends ObjectLiteral>(qb: SelectQueryBuilder<T>, caller: VerifiedCaller, before: string, cursor: BeforeCursor<T>): Promise<void> {
  const em = qb.connection.manager;
  const { target, tableName } = qb.expressionMap.mainAlias!.metadata;
  const row = isLookupId(before) ? await em.findOne<ObjectLiteral>(target, { select: { id: true, [cursor.owner]: true }, where: { ...cursor.where, id: before } }) : null;
  const visible = cursor.visible ?? ((owner: string) => isVisibleOrganization(em, caller, owner));
  if (!row || !(await visible(row[cursor.owner] as string))) throw new DomainError(ErrorCode.ValidationFailed, cursor.refusal);
  const time = cursor.timeColumn;
  // A row-value comparison against the cursor row: no timestamp crosses the driver boundary.
  qb.andWhere(`(${qb.alias}.${time}, ${qb.alias}.id) < (SELECT c.${time}, c.id FROM ${tableName} c WHERE c.id = :before)`, { before });
}

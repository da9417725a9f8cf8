import type { EntityManager } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';

/**
 * The ids of the organization `:root` and of every organization below it: a subquery for
 * `organization_id IN (…)` with the parameter `root` (a recursive CTE on SQLite and PostgreSQL).
 */
export const SUBTREE_IDS_SQL = `WITH RECURSIVE subtree(id) AS (
    SELECT id FROM organizations WHERE id = :root
    UNION
    SELECT o.id FROM organizations o JOIN subtree s ON o.parent_id = s.id
  )
  SELECT id FROM subtree`;

/** The ids of the organization and of every organization below it ({@link SUBTREE_IDS_SQL} run on its own). */
export async function subtreeIds(em: EntityManager, root: string): Promise<string[]> {
  const [sql, params] = em.connection.driver.escapeQueryWithParameters(SUBTREE_IDS_SQL, { root }, {});
  const rows: Array<{ id: string }> = await em.query(sql, params);
  return rows.map((r) => r.id);
}

/** The organization and its ancestors, from it up to the top, as `up(id, parent_id)` (parameter `organization`). */
const UP_SQL = `WITH RECURSIVE up(id, parent_id) AS (
    SELECT id, parent_id FROM organizations WHERE id = :organization
    UNION
    SELECT o.id, o.parent_id FROM organizations o JOIN up ON o.id = up.parent_id
  )`;

/**
 * Whether the organization is the caller's or below it. Walks up from the organization (the
 * depth of the tree) rather than loading the caller's subtree. An unknown organization is not
 * visible either: callers cannot tell an unknown id from another partner's.
 */
export async function isVisibleOrganization(em: EntityManager, caller: VerifiedCaller, organizationId: string): Promise<boolean> {
  if (organizationId === caller.organizationId) return true;
  const [sql, params] = em.connection.driver.escapeQueryWithParameters(
    `${UP_SQL} SELECT id FROM up WHERE id = :caller`,
    { organization: organizationId, caller: caller.organizationId },
    {},
  );
  const rows: unknown[] = await em.query(sql, params);
  return rows.length > 0;
}

/** The top of the tree the organization is in (the organization itself at the top), or null if unknown. */
export async function topOrganizationOf(em: EntityManager, organizationId: string): Promise<string | null> {
  const [sql, params] = em.connection.driver.escapeQueryWithParameters(
    `${UP_SQL} SELECT id FROM up WHERE parent_id IS NULL`,
    { organization: organizationId },
    {},
  );
  const rows: Array<{ id: string }> = await em.query(sql, params);
  return rows[0]?.id ?? null;
}

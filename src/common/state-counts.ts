import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';

/**
 * Rows of the query per value of its `state` column (`alias.state`), every state of `states`
 * present (0 when none); states not listed are left out.
 */
export async function countByState<S extends string>(qb: SelectQueryBuilder<ObjectLiteral>, alias: string, states: readonly S[]): Promise<Record<S, number>> {
  const rows = await qb
    .select(`${alias}.state`, 'state')
    .addSelect('COUNT(*)', 'count')
    .groupBy(`${alias}.state`)
    .getRawMany<{ state: string; count: number | string }>();
  const counts = Object.fromEntries(states.map((state) => [state, 0])) as Record<S, number>;
  for (const row of rows) if ((states as readonly string[]).includes(row.state)) counts[row.state as S] = Number(row.count);
  return counts;
}

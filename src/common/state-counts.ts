import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';

/** A count that stopped at a ceiling: `count` rows, or at least that many when `capped`. */
export interface CappedCount {
  count: number;
  capped: boolean;
}

/**
 * How many rows the query matches, counted up to `cap` and no further: the database stops at
 * row `cap + 1`, so the cost is bounded however large the table grows (the console's overview
 * with a million deliveries stored). Any select, order or limit of the query is replaced.
 */
export async function countUpTo(qb: SelectQueryBuilder<ObjectLiteral>, cap: number): Promise<CappedCount> {
  const [inner, parameters] = qb.clone().select('1', 'one').orderBy().limit(cap + 1).offset(undefined).getQueryAndParameters();
  const rows = await qb.connection.query<Array<{ n: number | string }>>(`SELECT COUNT(*) AS n FROM (${inner}) capped`, parameters);
  const n = Number(rows[0]?.n ?? 0);
  return n > cap ? { count: cap, capped: true } : { count: n, capped: false };
}

/** A queue's figures for the overview: rows in each state asked for, and rows created since a time. */
export interface QueueFigures<S extends string> {
  byState: Record<S, CappedCount>;
  created: CappedCount;
}

/**
 * {@link countUpTo} for each state (`alias.state`) of a queue's visible rows, and for those created
 * since `since` (`alias.<createdColumn>`): `visible` makes a fresh query of the rows the caller
 * may see each time it is called.
 */
export async function queueFigures<S extends string>(
  visible: () => SelectQueryBuilder<ObjectLiteral>,
  alias: string,
  states: readonly S[],
  createdColumn: string,
  since: Date,
  cap: number,
): Promise<QueueFigures<S>> {
  const byState = {} as Record<S, CappedCount>;
  for (const state of states) byState[state] = await countUpTo(visible().andWhere(`${alias}.state = :state`, { state }), cap);
  const created = await countUpTo(visible().andWhere(`${alias}.${createdColumn} >= :since`, { since }), cap);
  return { byState, created };
}

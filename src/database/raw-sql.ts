import type { EntityManager } from 'typeorm';
import { toSqliteDate } from './raw-dates';

export interface SqlResult {
  records?: unknown[];
  affected?: number;
}

/**
 * Runs a statement written with `?` placeholders on SQLite or PostgreSQL (numbered there), with
 * Dates and booleans converted the way TypeORM stores them on SQLite.
 */
export async function runSql(em: EntityManager, sql: string, params: unknown[]): Promise<SqlResult> {
  const postgres = em.connection.options.type === 'postgres';
  let text = sql;
  let values = params;
  if (postgres) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
  } else {
    values = params.map((v) => (v instanceof Date ? toSqliteDate(v) : typeof v === 'boolean' ? (v ? 1 : 0) : v));
  }
  const runner = em.queryRunner ?? em.connection.createQueryRunner();
  try {
    return (await runner.query(text, values, true)) as SqlResult;
  } finally {
    if (runner !== em.queryRunner) await runner.release();
  }
}

export async function selectSql<T>(em: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
  return ((await runSql(em, sql, params)).records ?? []) as T[];
}

export async function executeSql(em: EntityManager, sql: string, params: unknown[]): Promise<number> {
  return (await runSql(em, sql, params)).affected ?? 0;
}

/** `n` groups of `width` placeholders: `(?, ?), (?, ?)`. */
export const placeholders = (n: number, width: number): string => Array.from({ length: n }, () => `(${Array(width).fill('?').join(', ')})`).join(', ');

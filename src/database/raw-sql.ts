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
    values = params.map(sqliteValue);
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

/** A parameter as TypeORM stores it on SQLite: Dates as its UTC text, booleans as 0/1. */
export const sqliteValue = (v: unknown): unknown => (v instanceof Date ? toSqliteDate(v) : typeof v === 'boolean' ? (v ? 1 : 0) : v);

/** What is used here of a better-sqlite3 prepared statement. */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number };
}

interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
}

const sqliteStatements = new WeakMap<object, Map<string, SqliteStatement>>();

/**
 * SQLite (better-sqlite3, one connection): the connection's prepared statement for `sql`, cached
 * per connection, to run once per row of a batch inside a transaction of `em`. There TypeORM's
 * `query()` costs several times the statement itself. Parameters are SQLite values (`sqliteValue`).
 */
export function sqliteStatement(em: EntityManager, sql: string): SqliteStatement {
  const connection = (em.connection.driver as unknown as { databaseConnection: SqliteConnection }).databaseConnection;
  let cache = sqliteStatements.get(connection);
  if (!cache) sqliteStatements.set(connection, (cache = new Map<string, SqliteStatement>()));
  let statement = cache.get(sql);
  if (!statement) cache.set(sql, (statement = connection.prepare(sql)));
  return statement;
}

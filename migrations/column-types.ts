import type { QueryRunner, TableColumnOptions } from 'typeorm';

/**
 * Timestamp columns in the native type of each database (SQLite `datetime`, PostgreSQL
 * `timestamptz`), for migrations from ConnectorSchema on. Migrations must not change once
 * released: change these only by adding new helpers.
 */
export function timestampColumns(queryRunner: QueryRunner) {
  const postgres = queryRunner.connection.driver.options.type === 'postgres';
  const timestampType = postgres ? 'timestamptz' : 'datetime';
  return {
    timestamp: (name: string, nullable = false): TableColumnOptions => ({ name, type: timestampType, isNullable: nullable }),
    createdAt: (name: string): TableColumnOptions => ({ name, type: timestampType, default: postgres ? 'now()' : "(datetime('now'))" }),
  };
}

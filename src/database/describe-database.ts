import type { DataSource } from 'typeorm';

/** A short description of the database for a command's summary (never the password of a URL). */
export function describeDatabase(dataSource: DataSource): string {
  const options = dataSource.options;
  if (options.type === 'sqlite' || options.type === 'better-sqlite3') return `SQLite ${String(options.database)}`;
  if (options.type === 'postgres') {
    const url = options.url ? new URL(options.url) : undefined;
    const where = url ? `${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname}` : 'PostgreSQL';
    return `PostgreSQL ${where}${options.schema ? ` (schema ${options.schema})` : ''}`;
  }
  return options.type;
}

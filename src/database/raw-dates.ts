/**
 * Dates in raw SQL, where TypeORM's column conversion does not run. On SQLite TypeORM stores a
 * datetime as UTC text `YYYY-MM-DD HH:MM:SS.SSS` (no zone); PostgreSQL's driver takes and gives Dates.
 */
export function toSqliteDate(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

/** A datetime as a raw query returns it: a Date (PostgreSQL) or TypeORM's zone-less UTC text (SQLite). */
export function fromDbDate(value: Date | string): Date {
  if (value instanceof Date) return value;
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value.replace(' ', 'T')}Z`);
}

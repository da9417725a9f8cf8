/**
 * Dates in raw SQL, where TypeORM's column conversion does not run. On SQLite TypeORM stores a
 * datetime as UTC text `YYYY-MM-DD HH:MM:SS.SSS` (no zone); PostgreSQL's driver takes and gives Dates.
 */
export function toSqliteDate(date: Date): string {
  // A batch writes one timestamp many times (measured: 2% of the delivery path's CPU formatting it).
  const ms = date.getTime();
  if (ms !== last.ms) Object.assign(last, { ms, text: date.toISOString().replace('T', ' ').replace('Z', '') });
  return last.text;
}

/** The last date formatted by {@link toSqliteDate}; an invalid date (NaN) never matches, and throws as before. */
const last = { ms: NaN, text: '' };

/** A datetime as a raw query returns it: a Date (PostgreSQL) or TypeORM's zone-less UTC text (SQLite). */
export function fromDbDate(value: Date | string): Date {
  if (value instanceof Date) return value;
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value.replace(' ', 'T')}Z`);
}

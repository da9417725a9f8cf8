/** True for a unique-constraint violation on SQLite or PostgreSQL (23505). */
export function isUniqueViolation(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as { code?: unknown; driverError?: { code?: unknown; message?: unknown }; message?: unknown };
  const code = e.driverError?.code ?? e.code;
  if (code === '23505') return true;
  const raw = e.driverError?.message ?? e.message;
  const message = typeof raw === 'string' ? raw : '';
  // sqlite3 says SQLITE_CONSTRAINT, better-sqlite3 SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY.
  return typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT') && /UNIQUE|PRIMARY/.test(message + code);
}

/**
 * A conflict with a concurrent transaction that running again may resolve: a unique violation,
 * or PostgreSQL's serialization failure (40001) and deadlock (40P01).
 */
export function isConcurrencyConflict(error: unknown): boolean {
  if (isUniqueViolation(error)) return true;
  const e = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.driverError?.code ?? e?.code;
  return code === '40001' || code === '40P01';
}

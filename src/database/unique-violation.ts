/** True for a unique-constraint violation on SQLite or PostgreSQL (23505). */
export function isUniqueViolation(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as { code?: unknown; driverError?: { code?: unknown; message?: unknown }; message?: unknown };
  const code = e.driverError?.code ?? e.code;
  if (code === '23505') return true;
  const raw = e.driverError?.message ?? e.message;
  const message = typeof raw === 'string' ? raw : '';
  return code === 'SQLITE_CONSTRAINT' && message.includes('UNIQUE');
}

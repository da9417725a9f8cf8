import type { DataSource } from 'typeorm';

/**
 * Bookkeeping tables that background jobs write on their own, and the migrations log: never in a
 * snapshot. Console sessions too: signing in and using the console is not a change of the data.
 */
const SKIPPED_TABLES = new Set(['migrations', 'typeorm_metadata', 'leases', 'connector_runs', 'console_sessions']);
// The audit trail records every request, a refused one too: a bad request adds its record there and changes nothing else.
SKIPPED_TABLES.add('audit_records');

/** Every table of the schema (so a new module's tables are covered without listing them here). */
async function tablesOf(ds: DataSource): Promise<string[]> {
  const rows: Array<{ name: string }> =
    ds.options.type === 'postgres'
      ? await ds.query(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
      : await ds.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`);
  return rows.map((r) => r.name).filter((name) => !SKIPPED_TABLES.has(name)).sort();
}

/** Bookkeeping of background workers, not data a request may change: left out of snapshots. */
const IGNORED: Record<string, string[]> = { events: ['dispatched_at'] };
/** When a handler was last seen: the action channel writes it at every ping round on its own. */
IGNORED.action_handlers = ['last_seen_at'];

/** Every row of the domain tables, ordered: compare two snapshots to prove nothing changed. */
export async function snapshot(ds: DataSource): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of await tablesOf(ds)) {
    const rows: Array<Record<string, unknown>> = await ds.query(`SELECT * FROM ${table}`);
    const ignored = IGNORED[table] ?? [];
    out[table] = rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !ignored.includes(k))))).sort();
  }
  return out;
}

import type { DataSource } from 'typeorm';

const TABLES = ['organizations', 'users', 'organizations_mapping', 'events', 'callback_requests', 'connector_items'];

/** Every row of the domain tables, ordered: compare two snapshots to prove nothing changed. */
export async function snapshot(ds: DataSource): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of TABLES) {
    const rows: Array<Record<string, unknown>> = await ds.query(`SELECT * FROM ${table}`);
    out[table] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

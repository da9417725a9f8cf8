import type { DataSource } from 'typeorm';

const TABLES = [
  'organizations',
  'users',
  'organizations_mapping',
  'events',
  'callback_requests',
  'connector_items',
  'webhook_subscriptions',
  'webhook_deliveries',
  'webhook_delivery_attempts',
];

/** Bookkeeping of background workers, not data a request may change: left out of snapshots. */
const IGNORED: Record<string, string[]> = { events: ['dispatched_at'] };

/** Every row of the domain tables, ordered: compare two snapshots to prove nothing changed. */
export async function snapshot(ds: DataSource): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of TABLES) {
    const rows: Array<Record<string, unknown>> = await ds.query(`SELECT * FROM ${table}`);
    const ignored = IGNORED[table] ?? [];
    out[table] = rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !ignored.includes(k))))).sort();
  }
  return out;
}

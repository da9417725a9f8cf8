/**
 * Newest rows across a subtree: the two techniques the code used (a unary `+` that steers SQLite
 * onto the newest-first index, and a merge of each organization's newest rows), timed on one
 * synthetic table on SQLite and PostgreSQL. Two trees of 41 organizations (a top, 8 partners,
 * 32 customers); ROWS rows spread evenly. Cases: the top of a tree (half the table), and one
 * customer (1/77 of the table), and a partner of 5 organizations whose rows are the oldest 5%. Prints the median of 21 runs per case, in ms.
 */
import { Client } from 'pg';
import { randomUUID } from 'node:crypto';

interface Statement {
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface SqliteDb {
  exec(sql: string): void;
  prepare(sql: string): Statement;
  transaction(fn: () => void): () => void;
}
// better-sqlite3 ships no types; TypeORM's driver loads it the same way.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require('better-sqlite3') as new (file: string) => SqliteDb;

const ROWS = Number(process.env.ROWS ?? 200_000);
const LIMIT = 50;
const SUBTREE = `WITH RECURSIVE subtree(id) AS (SELECT id FROM orgs WHERE id = $root UNION SELECT o.id FROM orgs o JOIN subtree s ON o.parent_id = s.id) SELECT id FROM subtree`;

interface Org { id: string; parent: string | null }
const orgs: Org[] = [];
for (const top of ['A', 'B']) {
  orgs.push({ id: top, parent: null });
  for (let p = 0; p < 8; p++) {
    orgs.push({ id: `${top}p${p}`, parent: top });
    for (let c = 0; c < 4; c++) orgs.push({ id: `${top}p${p}c${c}`, parent: `${top}p${p}` });
  }
}
const subtreeOf = (root: string): string[] => {
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const o of orgs) if (o.parent === out[i]) out.push(o.id);
  return out;
};

function median(xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }
async function time(fn: () => unknown): Promise<number> {
  await fn();
  const xs: number[] = [];
  for (let i = 0; i < 21; i++) { const t = process.hrtime.bigint(); await fn(); xs.push(Number(process.hrtime.bigint() - t) / 1e6); }
  return median(xs);
}

// The partner Bp7 (5 organizations) wrote only the oldest 5% of the rows: a stale corner of the tree.
const stale = new Set(subtreeOf('Bp7'));
const active = orgs.filter((o) => !stale.has(o.id));
const orgOf = (i: number): string => (i < ROWS * 0.05 ? [...stale][i % stale.size] : active[i % active.length].id);
const rows = Array.from({ length: ROWS }, (_, i) => ({ id: randomUUID(), org: orgOf(i), at: new Date(Date.UTC(2026, 0, 1) + i * 1000), state: i % 7 === 0 ? 'failed' : 'sent' }));

async function sqlite(): Promise<void> {
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE orgs (id varchar PRIMARY KEY, parent_id varchar); CREATE INDEX orgs_parent ON orgs(parent_id);
    CREATE TABLE t (id varchar PRIMARY KEY, organization_id varchar, created_at datetime, state varchar);
    CREATE INDEX t_org_created ON t(organization_id, created_at); CREATE INDEX t_created ON t(created_at, id);`);
  const io = db.prepare('INSERT INTO orgs VALUES (?, ?)');
  for (const o of orgs) io.run(o.id, o.parent);
  const it = db.prepare('INSERT INTO t VALUES (?, ?, ?, ?)');
  db.transaction(() => { for (const r of rows) it.run(r.id, r.org, r.at.toISOString().replace('T', ' ').slice(0, 23), r.state); })();
  db.exec('ANALYZE');
  const sub = SUBTREE.replace('$root', '?');
  const plain = db.prepare(`SELECT * FROM t WHERE organization_id IN (${sub}) ORDER BY created_at DESC, id DESC LIMIT ${LIMIT + 1}`);
  const plus = db.prepare(`SELECT * FROM t WHERE +organization_id IN (${sub}) ORDER BY created_at DESC, id DESC LIMIT ${LIMIT + 1}`);
  const one = db.prepare(`SELECT * FROM t WHERE organization_id = ? ORDER BY created_at DESC, id DESC LIMIT ${LIMIT + 1}`);
  const ids = db.prepare(sub);
  for (const [name, root] of [['top (~1/2 of rows)', 'A'], ['partner (5/77)', 'Ap3'], ['customer (1/77)', 'Ap3c1'], ['stale partner', 'Bp7']] as const) {
    const merge = (): unknown[] => {
      const subtree = (ids.all(root) as Array<{ id: string }>).map((r) => r.id);
      return subtree.flatMap((o) => one.all(o) as Array<{ created_at: string }>).sort((a, b) => (a.created_at < b.created_at ? 1 : -1)).slice(0, LIMIT + 1);
    };
    console.log(`sqlite  ${name.padEnd(20)} plain ${(await time(() => plain.all(root))).toFixed(2)}  unary+ ${(await time(() => plus.all(root))).toFixed(2)}  merge ${(await time(merge)).toFixed(2)}`);
  }
}

async function postgres(): Promise<void> {
  const db = new Client({ host: '127.0.0.1', user: 'postgres', database: 'test' });
  await db.connect();
  await db.query('DROP SCHEMA IF EXISTS subtree_exp CASCADE; CREATE SCHEMA subtree_exp; SET search_path = subtree_exp');
  await db.query(`CREATE TABLE orgs (id varchar PRIMARY KEY, parent_id varchar); CREATE INDEX orgs_parent ON orgs(parent_id);
    CREATE TABLE t (id varchar PRIMARY KEY, organization_id varchar, created_at timestamptz, state varchar)`);
  for (const o of orgs) await db.query('INSERT INTO orgs VALUES ($1, $2)', [o.id, o.parent]);
  for (let i = 0; i < rows.length; i += 10_000) {
    const s = rows.slice(i, i + 10_000);
    await db.query('INSERT INTO t SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::timestamptz[], $4::varchar[])', [s.map((r) => r.id), s.map((r) => r.org), s.map((r) => r.at), s.map((r) => r.state)]);
  }
  await db.query('CREATE INDEX t_org_created ON t(organization_id, created_at); CREATE INDEX t_created ON t(created_at, id); ANALYZE');
  const sub = SUBTREE.replace('$root', '$1');
  for (const [name, root] of [['top (~1/2 of rows)', 'A'], ['partner (5/77)', 'Ap3'], ['customer (1/77)', 'Ap3c1'], ['stale partner', 'Bp7']] as const) {
    const plain = (): Promise<unknown> => db.query(`SELECT * FROM t WHERE organization_id IN (${sub}) ORDER BY created_at DESC, id DESC LIMIT ${LIMIT + 1}`, [root]);
    const merge = async (): Promise<unknown> => {
      const subtree = (await db.query<{ id: string }>(sub, [root])).rows.map((r) => r.id);
      const parts = [];
      for (const o of subtree) parts.push((await db.query<{ created_at: Date }>(`SELECT * FROM t WHERE organization_id = $1 ORDER BY created_at DESC, id DESC LIMIT ${LIMIT + 1}`, [o])).rows);
      return parts.flat().sort((a, b) => b.created_at.getTime() - a.created_at.getTime()).slice(0, LIMIT + 1);
    };
    // The merge in one statement: each organization's newest rows by a LATERAL subquery on its index range.
    const lateral = (): Promise<unknown> =>
      db.query(
        `SELECT p.* FROM (${sub}) s CROSS JOIN LATERAL (SELECT * FROM t WHERE t.organization_id = s.id ORDER BY created_at DESC, id DESC LIMIT ${LIMIT + 1}) p
          ORDER BY p.created_at DESC, p.id DESC LIMIT ${LIMIT + 1}`,
        [root],
      );
    console.log(`postgres ${name.padEnd(20)} plain ${(await time(plain)).toFixed(2)}  merge ${(await time(merge)).toFixed(2)}  merge in one LATERAL statement ${(await time(lateral)).toFixed(2)}`);
  }
  await db.query('DROP SCHEMA subtree_exp CASCADE');
  await db.end();
}

void (async () => {
  console.log(`${ROWS} rows, ${orgs.length} organizations, page of ${LIMIT}; median ms of 21 runs`);
  await sqlite();
  await postgres();
})();

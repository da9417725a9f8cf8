import type { EntityManager } from 'typeorm';
import { fromDbDate, toSqliteDate } from '../database/raw-dates';
import { executeSql, selectSql, sqliteStatement, sqliteValue } from '../database/raw-sql';
import type { SettleWith, WorkQueueTable } from './work-queue';

/** Keys with due work considered by one claim. */
const MAX_KEYS_PER_CLAIM = 200;

/** A claimed row as the database returns it. */
export type ClaimedRow = Record<string, unknown> & { id: string; work_key: string; attempts: number | string; work_due: Date | string; claim_rank: number | string };

/** An outcome's write: the row, its fencing token, and the columns to set. */
export interface SettleRow {
  id: string;
  attempts: number;
  state: string;
  nextAttemptAt: Date;
  completedAt: Date | null;
  values: Record<string, unknown>;
  /** The attempt is given back (a `later` verdict): `attempts` goes down by one. */
  uncount: boolean;
  /** The history row written with it when applied. */
  history?: Record<string, unknown>;
}

export interface ClaimRequest {
  /** Rows wanted at most. */
  free: number;
  /** Rows held here per key (reserved, ahead, in flight), and the most a key may hold. */
  held: ReadonlyMap<string, number>;
  keyLimit: number;
  now: Date;
  leaseUntil: Date;
  /** Oldest-first tables: ids to take before other due rows when they are due (the runner's own retries). */
  first?: readonly string[];
}

type KeyGate = NonNullable<WorkQueueTable['keyGate']>;

/** What PostgreSQL cannot store in text (NUL) or in jsonb (a lone UTF-16 surrogate). */
// eslint-disable-next-line no-control-regex -- NUL is exactly what is looked for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * U+FFFD for what PostgreSQL refuses: a receiver's answer or an error text may hold anything, and
 * one such value would otherwise fail the whole batch it is written with, again and again.
 */
export const storable = (text: string): string => text.replace(UNSTORABLE, '\uFFFD');

/**
 * PostgreSQL: a state compared by id-fenced writes, as a one-row subquery the planner cannot read.
 * A literal proves the partial index of leased rows usable, and after a burst its dead entries make
 * a scan of it cost several times the lookups by id it displaces (a settle of 127 rows read 9,911
 * entries of it: 3.5 of its 5.5 ms).
 */
const unplanned = (state: string): string => `(SELECT '${state}'::varchar)`;

/**
 * Every statement of the work core, and with them every difference between SQLite and PostgreSQL:
 * PostgreSQL claims in one statement (row locks skipped by concurrent replicas) and writes a batch
 * in one statement from arrays; SQLite (one writer, in process) claims in a few cheap statements
 * inside the caller's transaction and writes a batch through one prepared statement per row.
 */
export class WorkSql {
  readonly isPostgres: boolean;
  /** SQLite: when expired leases were last looked for (ms). */
  private lastExpiredScan = 0;

  constructor(
    private readonly q: WorkQueueTable,
    type: string,
    private readonly pollMs: number,
  ) {
    this.isPostgres = type === 'postgres';
  }

  /**
   * For an ordered queue: the condition that the row aliased `a` is its group's next (no other row
   * of the group leased and alive, none pending or leased before it); one `?`, now. Else nothing.
   */
  private nextInGroup(a: string): string {
    if (!this.q.ordered) return '';
    const { table, pendingState: pending, leasedState: leased } = this.q;
    const { group, by } = this.q.ordered;
    return `AND NOT EXISTS (SELECT 1 FROM ${table} o WHERE ${group.map((c) => `o.${c} = ${a}.${c}`).join(' AND ')} AND o.id <> ${a}.id
      AND ((o.state = '${leased}' AND o.locked_until >= ?)
        OR (o.state IN ('${pending}', '${leased}') AND (o.${by} < ${a}.${by} OR (o.${by} = ${a}.${by} AND o.id < ${a}.id)))))`;
  }

  /** The parameters of {@link nextInGroup}. */
  private nextInGroupParams(now: Date): unknown[] {
    return this.q.ordered ? [now] : [];
  }

  /** The columns a claim returns, `prefix` being the table's alias (none in SQLite's RETURNING). */
  private returned(prefix: string): string {
    return [`${prefix}id`, `${prefix}${this.q.keyColumn} AS work_key`, `${prefix}attempts`, `${prefix}next_attempt_at AS work_due`, ...this.q.payloadColumns.map((c) => `${prefix}${c}`)].join(', ');
  }

  /** On a takeover of an expired lease, `takeoverResets` set to NULL; `t` prefixes the row's columns. */
  private resets(t: string): string {
    return (this.q.takeoverResets ?? []).map((c) => `, ${c} = CASE WHEN ${t}state = '${this.q.leasedState}' THEN NULL ELSE ${t}${c} END`).join('');
  }

  /**
   * Leases due rows: expired leases first (their holder died), then pending rows, for the keys with
   * the oldest due work, each key up to what it may still hold (or, without a key gate, the oldest
   * due rows). Returns them in that order.
   */
  async claim(em: EntityManager, r: ClaimRequest): Promise<ClaimedRow[]> {
    if (r.free <= 0) return [];
    const { keyGate } = this.q;
    if (!keyGate) return this.claimOldest(em, r);
    return this.isPostgres ? this.claimPostgres(em, r, keyGate) : this.claimSqlite(em, r, keyGate);
  }

  /**
   * Without a key gate (both databases): expired leases, then the `first` rows that are due, then
   * the oldest due rows, picked by one materialized CTE (evaluated once: as an IN subquery,
   * PostgreSQL may rescan a LIMIT … SKIP LOCKED subquery and claim more) and leased by one UPDATE
   * that checks each row again, so that a row another claim took meanwhile is left out.
   */
  private async claimOldest(em: EntityManager, r: ClaimRequest): Promise<ClaimedRow[]> {
    const { table, pendingState: pending, leasedState: leased, rowGate } = this.q;
    const gate = rowGate ? `AND (${rowGate})` : '';
    const lock = this.isPostgres ? 'FOR UPDATE SKIP LOCKED' : '';
    const first = (r.first ?? []).slice(0, r.free);
    const ids = first.map(() => '?').join(', ');
    const arms = [`SELECT id FROM (SELECT c.id FROM ${table} c WHERE c.state = '${leased}' AND c.locked_until < ? ${gate} ORDER BY c.locked_until LIMIT ${r.free} ${lock}) AS expired`];
    const params: unknown[] = [r.now];
    if (first.length > 0) {
      // By primary key, the due condition wrapped in IS TRUE so that the planners look the ids up rather than walk the due index for them.
      arms.push(`SELECT id FROM (SELECT c.id FROM ${table} c WHERE c.id IN (${ids}) AND (c.state = '${pending}' AND c.next_attempt_at <= ?) IS TRUE ${gate} ${lock}) AS first_due`);
      params.push(...first, r.now);
    }
    arms.push(
      `SELECT id FROM (SELECT c.id FROM ${table} c WHERE c.state = '${pending}' AND c.next_attempt_at <= ? ${gate} ${first.length > 0 ? `AND c.id NOT IN (${ids})` : ''}
        ORDER BY c.next_attempt_at LIMIT ${r.free} ${lock}) AS due`,
    );
    params.push(r.now, ...first);
    const rows = await selectSql<ClaimedRow>(
      em,
      // IS TRUE keeps SQLite on the primary key for the picked ids instead of the due index.
      // Ranked in the order picked (ties of the due index in its order: the order the rows were made).
      `WITH picked AS MATERIALIZED (SELECT id, ROW_NUMBER() OVER () AS claim_rank FROM (${arms.join(' UNION ALL ')} LIMIT ${r.free}) AS arms)
       UPDATE ${table} SET state = '${leased}', attempts = attempts + 1, locked_until = ?, updated_at = ?${this.resets('')}
        WHERE id IN (SELECT id FROM picked) AND ((state = '${pending}' AND next_attempt_at <= ?) OR (state = '${leased}' AND locked_until < ?)) IS TRUE
        RETURNING ${[this.returned(''), ...(this.q.returning ?? [])].join(', ')}, (SELECT claim_rank FROM picked WHERE picked.id = ${table}.id) AS claim_rank`,
      [...params, r.leaseUntil, r.now, r.now, r.now],
    );
    return rows.sort((a, b) => Number(a.claim_rank) - Number(b.claim_rank));
  }

  /**
   * Oldest-first tables: when a row next comes due, a pending one or a lease held elsewhere
   * expiring (for a runner holding none), or null when there is none.
   */
  async nextDue(em: EntityManager): Promise<Date | null> {
    const { table, pendingState: pending, leasedState: leased, rowGate } = this.q;
    const gate = rowGate ? `AND (${rowGate})` : '';
    const [row] = await selectSql<{ due: Date | string | null; expiring: Date | string | null }>(
      em,
      `SELECT (SELECT c.next_attempt_at FROM ${table} c WHERE c.state = '${pending}' ${gate} ORDER BY c.next_attempt_at LIMIT 1) AS due,
              (SELECT c.locked_until FROM ${table} c WHERE c.state = '${leased}' ${gate} ORDER BY c.locked_until LIMIT 1) AS expiring`,
      [],
    );
    const times = [row?.due, row?.expiring].filter((d): d is Date | string => d !== null && d !== undefined).map((d) => fromDbDate(d).getTime());
    return times.length > 0 ? new Date(Math.min(...times)) : null;
  }

  /** One statement: keys, their due rows (LATERAL, locked SKIP LOCKED), expired leases, and the UPDATE. */
  private async claimPostgres(em: EntityManager, r: ClaimRequest, keyGate: KeyGate): Promise<ClaimedRow[]> {
    const { table, keyColumn: key, pendingState: pending, leasedState: leased } = this.q;
    const keyColumns = keyGate.columns ?? [];
    const heldKeys = [...r.held.keys()];
    const heldCounts = heldKeys.map((k) => r.held.get(k) ?? 0);
    const next = this.nextInGroupParams(r.now);
    return selectSql<ClaimedRow>(
      em,
      `WITH keys AS (
         SELECT k.id, k.room, k.due FROM (
           SELECT g.id, ? - COALESCE(h.n, 0) AS room,
                  (SELECT MIN(p.next_attempt_at) FROM ${table} p WHERE p.${key} = g.id AND p.state = '${pending}') AS due
             FROM ${keyGate.table} g LEFT JOIN unnest(?::varchar[], ?::int[]) AS h(id, n) ON h.id = g.id
            WHERE ${keyGate.where}
         ) k WHERE k.room > 0 AND k.due <= ? ORDER BY k.due LIMIT ${Math.min(r.free, MAX_KEYS_PER_CLAIM)}
       ), due AS (
         SELECT c.id, 1 AS pri, c.next_attempt_at AS at FROM keys, LATERAL (
           SELECT p.id, p.next_attempt_at FROM ${table} p
            WHERE p.${key} = keys.id AND p.state = '${pending}' AND p.next_attempt_at <= ? ${this.nextInGroup('p')}
            ORDER BY p.next_attempt_at, p.id LIMIT keys.room FOR UPDATE SKIP LOCKED
         ) c
       ), expired AS (
         SELECT e.id, 0 AS pri, e.locked_until AS at FROM ${table} e JOIN ${keyGate.table} g ON g.id = e.${key} AND ${keyGate.where}
          WHERE e.state = '${leased}' AND e.locked_until < ? ${this.nextInGroup('e')}
          ORDER BY e.locked_until LIMIT ${r.free} FOR UPDATE OF e SKIP LOCKED
       ), chosen AS (
         SELECT id, ROW_NUMBER() OVER (ORDER BY pri, at, id) AS claim_rank FROM (SELECT * FROM expired UNION ALL SELECT * FROM due) u
          ORDER BY pri, at, id LIMIT ${r.free}
       )
       UPDATE ${table} t SET state = '${leased}', attempts = t.attempts + 1, locked_until = ?, updated_at = ?${this.resets('t.')}
         FROM chosen${keyColumns.length > 0 ? `, ${keyGate.table} kg` : ''} WHERE t.id = chosen.id${keyColumns.length > 0 ? ` AND kg.id = t.${key}` : ''}
       RETURNING ${this.returned('t.')}, chosen.claim_rank${keyColumns.map((c) => `, kg.${c} AS key_${c}`).join('')}`,
      [r.keyLimit, heldKeys, heldCounts, ...keyGate.params, r.now, r.now, ...next, ...keyGate.params, r.now, ...next, r.leaseUntil, r.now],
    ).then((rows) => rows.sort((a, b) => Number(a.claim_rank) - Number(b.claim_rank)));
  }

  /**
   * SQLite: candidates read (expired leases once per poll, then each key's oldest due rows, one
   * UNION ALL), then one UPDATE that checks every row again. A scan of a due index in time order
   * would step over a saturated key's whole backlog (a hanging receiver's) on every claim.
   */
  private async claimSqlite(em: EntityManager, r: ClaimRequest, keyGate: KeyGate): Promise<ClaimedRow[]> {
    const { table, keyColumn: key, pendingState: pending, leasedState: leased } = this.q;
    const saturated = [...r.held].filter(([, n]) => n >= r.keyLimit).map(([id]) => id);
    const next = this.nextInGroupParams(r.now);
    const notIn = saturated.length > 0 ? `NOT IN (${saturated.map(() => '?').join(', ')})` : null;
    let expired: Array<{ id: string; work_key: string }> = [];
    const nowMs = r.now.getTime();
    if (nowMs - this.lastExpiredScan >= this.pollMs) {
      this.lastExpiredScan = nowMs;
      expired = await selectSql(
        em,
        `SELECT e.id, e.${key} AS work_key FROM ${table} e JOIN ${keyGate.table} g ON g.id = e.${key} AND ${keyGate.where}
          WHERE e.state = '${leased}' AND e.locked_until < ? ${this.nextInGroup('e')} ${notIn ? `AND e.${key} ${notIn}` : ''}
          ORDER BY e.locked_until LIMIT ${r.free}`,
        [...keyGate.params, r.now, ...next, ...saturated],
      );
      // A full page: there may be more; look again at the next claim.
      if (expired.length >= r.free) this.lastExpiredScan = 0;
    }
    const keys = await selectSql<{ id: string }>(
      em,
      `SELECT id FROM (
         SELECT g.id, (SELECT MIN(p.next_attempt_at) FROM ${table} p WHERE p.${key} = g.id AND p.state = '${pending}') AS due
           FROM ${keyGate.table} g WHERE ${keyGate.where} ${notIn ? `AND g.id ${notIn}` : ''}
       ) k WHERE due <= ? ORDER BY due LIMIT ${Math.min(r.free, MAX_KEYS_PER_CLAIM)}`,
      [...keyGate.params, ...saturated, r.now],
    );
    const room = (id: string): number => r.keyLimit - (r.held.get(id) ?? 0);
    const due =
      keys.length === 0
        ? []
        : await selectSql<{ id: string; work_key: string; next_attempt_at: string }>(
            em,
            keys
              .map(
                (k, i) =>
                  `SELECT * FROM (SELECT p.id, p.${key} AS work_key, p.next_attempt_at FROM ${table} p
                     WHERE p.${key} = ? AND p.state = '${pending}' AND p.next_attempt_at <= ? ${this.nextInGroup('p')}
                     ORDER BY p.next_attempt_at, p.id LIMIT ${Math.min(r.free, room(k.id))}) p${i}`,
              )
              .join(' UNION ALL '),
            keys.flatMap((k) => [k.id, r.now, ...next]),
          );
    // Ties by id (UUIDv7, creation order): rows due at the same time go in the order they were made.
    due.sort((x, y) => (x.next_attempt_at < y.next_attempt_at ? -1 : x.next_attempt_at > y.next_attempt_at ? 1 : x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    const left = new Map<string, number>();
    const chosen: string[] = [];
    for (const c of [...expired, ...due]) {
      if (chosen.length >= r.free) break;
      const n = left.get(c.work_key) ?? room(c.work_key);
      if (n <= 0) continue;
      left.set(c.work_key, n - 1);
      chosen.push(c.id);
    }
    if (chosen.length === 0) return [];
    const rows = await selectSql<ClaimedRow>(
      em,
      // IS TRUE keeps SQLite on the primary key for the IN list instead of the due index.
      `UPDATE ${table} AS t SET state = '${leased}', attempts = attempts + 1, locked_until = ?, updated_at = ?${this.resets('')}
        WHERE id IN (${chosen.map(() => '?').join(', ')})
          AND ((state = '${pending}' AND next_attempt_at <= ?) OR (state = '${leased}' AND locked_until < ?)) IS TRUE ${this.nextInGroup('t')}
        RETURNING ${this.returned('')}, 0 AS claim_rank`,
      [r.leaseUntil, r.now, ...chosen, r.now, r.now, ...next],
    );
    const rank = new Map(chosen.map((id, i) => [id, i]));
    return rows.sort((a, b) => (rank.get(a.id) ?? 0) - (rank.get(b.id) ?? 0));
  }

  /** Extends the leases still held (fenced: a lease another holder took over is not touched); the ids renewed. */
  async renew(em: EntityManager, held: ReadonlyArray<{ id: string; attempts: number }>, until: Date): Promise<Set<string>> {
    if (held.length === 0) return new Set();
    const { table, leasedState } = this.q;
    if (this.isPostgres) {
      const rows = await selectSql<{ id: string }>(
        em,
        `UPDATE ${table} t SET locked_until = ? FROM unnest(?::varchar[], ?::int[]) AS v(id, attempts)
          WHERE t.id = v.id AND t.attempts = v.attempts AND t.state = ${unplanned(leasedState)} RETURNING t.id`,
        [until, held.map((h) => h.id), held.map((h) => h.attempts)],
      );
      return new Set(rows.map((row) => row.id));
    }
    const update = sqliteStatement(em, `UPDATE ${table} SET locked_until = ? WHERE id = ? AND attempts = ? AND state = '${leasedState}'`);
    const at = toSqliteDate(until);
    return new Set(held.filter((h) => update.run(at, h.id, h.attempts).changes > 0).map((h) => h.id));
  }

  /**
   * Writes outcomes, each fenced by its lease's attempt number; the ids applied. PostgreSQL: the
   * batch in one statement, an UPDATE from a typed record set, with the history rows and `with`'s
   * CTEs (a processor's writes, given the first placeholder number free). SQLite: one prepared
   * UPDATE per row (`with` is PostgreSQL's only).
   */
  async settle(em: EntityManager, rows: SettleRow[], now: Date, withCtes?: (first: number) => SettleWith | null): Promise<Set<string>> {
    if (rows.length === 0) return new Set();
    const { table, leasedState, outcomeColumns, history } = this.q;
    const extra = Object.keys(outcomeColumns);
    const completed = this.q.completedColumn === undefined ? 'completed_at' : this.q.completedColumn;
    if (this.isPostgres) {
      const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());
      const json = JSON.stringify(
        rows.map((r) => ({ ...r.values, id: r.id, claim: r.attempts, uncount: r.uncount ? 1 : 0, state: r.state, next_attempt_at: iso(r.nextAttemptAt), completed_at: iso(r.completedAt) })),
        (_key, value: unknown) => (typeof value === 'string' ? storable(value) : value),
      );
      const settle = `UPDATE ${table} AS t
            SET state = v.state, next_attempt_at = v.next_attempt_at, locked_until = NULL, attempts = t.attempts - v.uncount, updated_at = ?
                ${completed ? `, ${completed} = v.completed_at` : ''}${extra.map((c) => `, ${c} = v.${c}`).join('')}
           FROM jsonb_to_recordset(?::jsonb)
             AS v(id varchar, claim integer, uncount integer, state varchar, next_attempt_at timestamptz, completed_at timestamptz${extra.map((c) => `, ${c} ${outcomeColumns[c]}`).join('')})
          WHERE t.id = v.id AND t.state = ${unplanned(leasedState)} AND t.attempts = v.claim
          RETURNING t.id`;
      const ctes = [`settled AS (${settle})`];
      const params: unknown[] = [now, json];
      if (history) {
        // The outcome and its history row in one statement: the INSERT takes the rows the UPDATE applied.
        const columns = Object.keys(history.columns);
        ctes.push(`written AS (
                INSERT INTO ${history.table} (${history.rowColumn}, ${columns.join(', ')})
                SELECT h.row_id, ${columns.map((c) => `h.${c}`).join(', ')}
                  FROM jsonb_to_recordset(?::jsonb) AS h(row_id varchar, ${columns.map((c) => `${c} ${history.columns[c]}`).join(', ')})
                  JOIN settled ON settled.id = h.row_id
              )`);
        params.push(JSON.stringify(rows.filter((r) => r.history).map((r) => ({ ...r.history, row_id: r.id }))));
      }
      // Numbered after every `?` above (runSql numbers those in order).
      const more = withCtes?.(params.length + 1) ?? null;
      if (more) ctes.push(more.ctes);
      const applied =
        ctes.length === 1
          ? await selectSql<{ id: string }>(em, settle, params)
          : await selectSql<{ id: string }>(em, `WITH ${ctes.join(',\n')}\n SELECT id FROM settled`, [...params, ...(more?.params ?? [])]);
      return new Set(applied.map((r) => r.id));
    }
    const update = sqliteStatement(
      em,
      `UPDATE ${table} SET state = ?, next_attempt_at = ?, locked_until = NULL, attempts = attempts - ?, updated_at = ?${completed ? `, ${completed} = ?` : ''}${extra.map((c) => `, ${c} = ?`).join('')}
        WHERE id = ? AND state = '${leasedState}' AND attempts = ?`,
    );
    const at = toSqliteDate(now);
    const applied = new Set<string>();
    for (const r of rows) {
      const values = extra.map((c) => sqliteValue(r.values[c] ?? null));
      const stamp = completed ? [r.completedAt === null ? null : toSqliteDate(r.completedAt)] : [];
      const { changes } = update.run(r.state, toSqliteDate(r.nextAttemptAt), r.uncount ? 1 : 0, at, ...stamp, ...values, r.id, r.attempts);
      if (changes > 0) applied.add(r.id);
    }
    if (history) {
      const columns = Object.keys(history.columns);
      const insert = sqliteStatement(em, `INSERT INTO ${history.table} (${history.rowColumn}, ${columns.join(', ')}) VALUES (?${', ?'.repeat(columns.length)})`);
      for (const r of rows) if (r.history && applied.has(r.id)) insert.run(r.id, ...columns.map((c) => sqliteValue(r.history?.[c] ?? null)));
    }
    return applied;
  }

  /**
   * Leases given back. `started` false: never attempted, pending again as if never claimed (the
   * attempt count too). True: the attempt was cut off, due again now with `interruptedValues`.
   */
  async giveBack(em: EntityManager, items: ReadonlyArray<{ id: string; attempts: number }>, started: boolean, now: Date): Promise<void> {
    const { table, pendingState, leasedState, interruptedValues } = this.q;
    const set = started
      ? `next_attempt_at = ?${Object.keys(interruptedValues).map((c) => `, ${c} = ?`).join('')}`
      : 'attempts = attempts - 1';
    const params = started ? [now, ...Object.values(interruptedValues)] : [];
    for (const item of items) {
      await executeSql(
        em,
        `UPDATE ${table} SET state = '${pendingState}', locked_until = NULL, updated_at = ?, ${set} WHERE id = ? AND state = '${leasedState}' AND attempts = ?`,
        [now, ...params, item.id, item.attempts],
      );
    }
  }
}

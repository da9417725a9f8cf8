import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { newRowId } from '../common/ids';
import { sqliteStatement, sqliteValue } from '../database/raw-sql';
import { TransactionRunner } from '../database/transaction-runner.service';
import type { AuditRecord } from './audit-record.entity';

/** A record to write: its columns, each optional but `kind` and `outcome`; the id (UUIDv7) and time are made here unless given. */
export type AuditEntry = Partial<AuditRecord> & Pick<AuditRecord, 'kind' | 'outcome'>;

const COLUMNS = [
  'id', 'at', 'kind', 'name', 'outcome', 'code', 'organization_id', 'tenant_id', 'actor',
  'request_id', 'event_id', 'delivery_id', 'work_id', 'action_id', 'cause_id', 'duration_ms', 'detail',
] as const;
const PG_TYPES = ['varchar', 'timestamptz', 'varchar', 'varchar', 'varchar', 'varchar', 'varchar', 'varchar', 'varchar', 'varchar', 'varchar', 'varchar', 'varchar', 'varchar', 'varchar', 'integer', 'text'];
const SQLITE_INSERT = `INSERT INTO audit_records (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`;
const PG_INSERT = `INSERT INTO audit_records (${COLUMNS.join(', ')})
  SELECT * FROM unnest(${PG_TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(', ')}) ON CONFLICT DO NOTHING`;
/**
 * PostgreSQL: an INSERT of audit records, for a data-modifying CTE that writes them in the same
 * statement as the work they record: `$first` is an array of keys, one per record, followed by
 * the records' columns as arrays (see {@link pgAuditParameters}); a record is written only when
 * its key is an `id` that the CTE named `cte` returned (the rows the statement really changed).
 */
export function pgAuditInsertOf(cte: string, first: number): string {
  return `INSERT INTO audit_records (${COLUMNS.join(', ')})
    SELECT ${COLUMNS.map((column) => `a.${column}`).join(', ')}
      FROM unnest($${first}::varchar[], ${PG_TYPES.map((type, i) => `$${first + i + 1}::${type}[]`).join(', ')}) AS a(audit_key, ${COLUMNS.join(', ')})
      JOIN ${cte} ON ${cte}.id = a.audit_key
    ON CONFLICT DO NOTHING`;
}

/** The parameters of {@link pgAuditInsertOf}: the keys, then one array per column. */
export function pgAuditParameters(records: ReadonlyArray<{ key: string; entry: AuditEntry }>): unknown[] {
  const rows = records.map(({ entry }) => rowOf(entry));
  return [records.map(({ key }) => key), ...COLUMNS.map((_, c) => rows.map((row) => row[c]))];
}

/** Records written per transaction by the buffer. */
const BATCH = 500;
/**
 * How long the buffer gathers before it writes. A transaction costs far more than a row: on SQLite
 * (bench/audit-cost.bench.ts and a row-cost probe) ~45 µs of CPU per record in batches of 100,
 * ~100 µs in batches of 20, ~250 µs alone, against ~700 µs for a whole cached read callback.
 * Gathering for 100 ms makes batches of ~100 at 1,000 reads a second, the load where the cost
 * matters; a full batch goes at once. Records show in the API that much later.
 */
const GATHER_MS = 100;

/**
 * Client-given text as stored: at most `max` characters, NUL (which PostgreSQL's text refuses)
 * replaced. Never used for anything but display and exact search.
 */
export function clip(value: unknown, max: number): string | null {
  if (typeof value !== 'string' || value.length === 0) return null;
  const cut = value.length > max ? value.slice(0, max) : value;
  return cut.includes('\0') ? cut.replace(/\0/g, '\uFFFD') : cut;
}

/** The record's columns, in COLUMNS order; values that come from a client cut to their column's size. */
function rowOf(e: AuditEntry): unknown[] {
  const id = e.id ?? newRowId();
  return [
    id,
    e.at ?? new Date(),
    e.kind,
    clip(e.name, 255),
    e.outcome,
    clip(e.code, 64),
    e.organizationId ?? null,
    clip(e.tenantId, 64),
    clip(e.actor, 255),
    clip(e.requestId, 128),
    e.eventId ?? null,
    e.deliveryId ?? null,
    clip(e.workId, 255),
    e.actionId ?? null,
    e.causeId ?? null,
    e.durationMs === null || e.durationMs === undefined ? null : Math.max(0, Math.round(e.durationMs)),
    e.detail ? JSON.stringify(e.detail) : null,
  ];
}

/**
 * Writes the audit trail (docs/audit.md). Two ways:
 * - {@link record}: in the caller's transaction, with the work it records (a write callback, a
 *   fan-out batch, a batch of delivery outcomes, hook decisions): committed or lost together.
 * - {@link later}: for what has no transaction of its own (a read callback, a refused request):
 *   buffered, and written by a group commit, one asynchronously committed transaction for
 *   whatever arrived meanwhile, so that a busy gateway pays one commit per batch, and the request
 *   pays nothing before its answer. Lost only with the process, or the last few to a power loss.
 *
 * The statement is raw SQL: on SQLite a cached prepared statement (TypeORM's insert costs several
 * times the write itself); on PostgreSQL one statement per batch over column arrays.
 */
@Injectable()
export class AuditService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(AuditService.name);
  private readonly postgres: boolean;
  private pending: unknown[][] = [];
  private flushing: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    @InjectDataSource() dataSource: DataSource,
    private readonly transactions: TransactionRunner,
  ) {
    this.postgres = dataSource.options.type === 'postgres';
  }

  /** A new record id (UUIDv7), for a record whose id is needed before it is written (a cause). */
  newId(): string {
    return newRowId();
  }

  /** Writes the records in `em`'s transaction. A record whose id exists already is skipped (a fan-out done again). */
  async record(em: EntityManager, entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length > 0) await this.insert(em, entries.map(rowOf));
  }

  /** Buffers the record for the next group commit (no transaction needed, nothing awaited). */
  later(entry: AuditEntry): void {
    this.pending.push(rowOf(entry));
    if (this.pending.length >= BATCH) this.wake?.();
    this.schedule();
  }

  /** Writes what is buffered; resolves when it is committed (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Writes what is buffered now rather than at the end of the gathering time; resolves when it is committed. */
  async flushNow(): Promise<void> {
    while (this.flushing) {
      this.wake?.();
      await this.flushing;
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flushNow();
  }

  /**
   * One gathering, then one transaction; what arrived meanwhile waits for the next gathering (not
   * for the end of the transaction only: on PostgreSQL a transaction takes milliseconds, and
   * writing at once what arrived during it would make batches of one or two again).
   */
  private schedule(): void {
    if (this.flushing) return;
    this.flushing = new Promise<void>((resolve) => {
      this.wake = resolve;
      if (this.pending.length >= BATCH) resolve();
      else setTimeout(resolve, GATHER_MS).unref();
    })
      .then(() => this.writeBatch())
      .finally(() => {
        this.flushing = null;
        if (this.pending.length > 0) this.schedule();
      });
  }

  private async writeBatch(): Promise<void> {
    this.wake = null;
    const batch = this.pending.splice(0, BATCH);
    try {
      await this.transactions.run((em) => this.insert(em, batch), { asyncCommit: true });
    } catch (error) {
      this.logger.error({ err: error }, `${batch.length} audit records not written`);
    }
  }

  private async insert(em: EntityManager, rows: unknown[][]): Promise<void> {
    if (this.postgres) {
      await em.query(PG_INSERT, COLUMNS.map((_, c) => rows.map((row) => row[c])));
      return;
    }
    const statement = sqliteStatement(em, SQLITE_INSERT);
    for (const row of rows) statement.run(...row.map(sqliteValue));
  }
}

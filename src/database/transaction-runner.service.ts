import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';

export interface TransactionOptions {
  /**
   * Asynchronous commit: the commit returns before its log is flushed to disk, so a power loss or
   * an OS crash (never a crash of this process) may lose the last such transactions, whole.
   * Only for bookkeeping whose loss merely repeats work, such as a webhook delivery's outcome
   * (the delivery is attempted again, which at-least-once allows). PostgreSQL: `SET LOCAL
   * synchronous_commit = off`; SQLite (WAL): `PRAGMA synchronous = NORMAL` for this transaction,
   * which skips the WAL fsync that better-sqlite3 would otherwise run on the event loop. The next
   * durable commit flushes the log, these transactions' pages included.
   */
  asyncCommit?: boolean;
}

/**
 * Runs work in one database transaction. TypeORM's SQLite driver has a single connection, on
 * which concurrent `transaction()` calls collide, so on SQLite transactions are queued one
 * after another; PostgreSQL runs them concurrently from the pool.
 */
@Injectable()
export class TransactionRunner {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly serialize: boolean;

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    this.serialize = dataSource.options.type === 'sqlite' || dataSource.options.type === 'better-sqlite3';
  }

  run<T>(work: (em: EntityManager) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    if (!this.serialize) {
      if (!options.asyncCommit) return this.dataSource.transaction(work);
      return this.dataSource.transaction(async (em) => {
        await em.query('SET LOCAL synchronous_commit = off');
        return work(em);
      });
    }
    const result = this.tail.then(() => (options.asyncCommit ? this.relaxed(work) : this.dataSource.transaction(work)));
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** SQLite: one transaction without the WAL fsync; the connection is back to a full sync after it. */
  private async relaxed<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    await this.dataSource.query('PRAGMA synchronous = NORMAL');
    try {
      return await this.dataSource.transaction(work);
    } finally {
      await this.dataSource.query('PRAGMA synchronous = FULL');
    }
  }
}

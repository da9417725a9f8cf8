import { Inject, Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { QueryRunner } from 'typeorm';
import { databaseConfig, DatabaseConfig } from '../config/database.config';

export interface TransactionOptions {
  /**
   * Asynchronous commit: the commit returns before its log is flushed to disk, so a power loss or
   * an OS crash (never a crash of this process) may lose the last such transactions, whole.
   * Only for bookkeeping whose loss merely repeats work, such as a webhook delivery's outcome
   * (the delivery is attempted again, which at-least-once allows). PostgreSQL: `SET LOCAL
   * synchronous_commit = off`; SQLite (WAL): `PRAGMA synchronous = NORMAL` for this transaction,
   * which skips the WAL fsync that better-sqlite3 would otherwise run on the event loop. The next
   * durable commit flushes the log, these transactions' pages included. On SQLite, a transaction
   * that shares its commit with a durable one (group commit) is committed durably.
   */
  asyncCommit?: boolean;
}

/** The default of `SQLITE_GROUP_MAX`, for a runner built without config (unit specs). */
const DEFAULT_GROUP_MAX = 64;

interface Unit {
  work: (em: EntityManager) => Promise<unknown>;
  asyncCommit: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Thrown inside a group's transaction when SQLite has ended it under a unit (e.g. SQLITE_FULL, SQLITE_IOERR). */
class GroupTransactionLost extends Error {}

/**
 * Runs work in one database transaction. TypeORM's SQLite driver has a single connection, on
 * which concurrent `transaction()` calls collide, so on SQLite transactions are queued one
 * after another; PostgreSQL runs them concurrently from the pool.
 *
 * SQLite group commit: the transactions queued while one runs (at most `SQLITE_GROUP_MAX`) run
 * next in one SQLite transaction, one after another, each in its own savepoint, and share one
 * commit, so a busy queue pays one WAL fsync per group instead of one per transaction. A
 * transaction that throws is rolled back to its savepoint and rejects alone; the others resolve
 * once the shared commit has succeeded (docs/architecture.md, "SQLite group commit").
 */
@Injectable()
export class TransactionRunner {
  private readonly queue: Unit[] = [];
  private draining = false;
  private readonly serialize: boolean;
  private readonly groupMax: number;
  private readonly groupObservers = new Set<(size: number) => void>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Optional() @Inject(databaseConfig.KEY) config?: DatabaseConfig,
  ) {
    this.serialize = dataSource.options.type === 'sqlite' || dataSource.options.type === 'better-sqlite3';
    this.groupMax = config?.sqliteGroupMax ?? DEFAULT_GROUP_MAX;
  }

  run<T>(work: (em: EntityManager) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    if (!this.serialize) {
      if (!options.asyncCommit) return this.dataSource.transaction(work);
      return this.dataSource.transaction(async (em) => {
        await em.query('SET LOCAL synchronous_commit = off');
        return work(em);
      });
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, asyncCommit: options.asyncCommit === true, resolve: resolve as (value: unknown) => void, reject });
      if (this.draining) return;
      this.draining = true;
      this.drainSoon();
    });
  }

  /**
   * SQLite: `observer` is called with the size of every group the queue runs (1 for a transaction
   * committed alone), for metrics and tests. Returns what stops it.
   */
  observeGroups(observer: (size: number) => void): () => void {
    this.groupObservers.add(observer);
    return () => this.groupObservers.delete(observer);
  }

  /**
   * The next group is taken after the event loop's pending I/O callbacks have run: better-sqlite3
   * runs a transaction, its commit's fsync included, without yielding to the event loop, so
   * requests that arrived meanwhile wait in their sockets and can join the queue only then. Taking
   * the queue from a microtask, as the promise chain did, finds it holding one transaction almost
   * every time (measured: 99.9% under the mixed-load benchmark).
   */
  private drainSoon(): void {
    setImmediate(() => void this.drainOnce());
  }

  private async drainOnce(): Promise<void> {
    const group = this.queue.splice(0, this.groupMax);
    for (const observe of this.groupObservers) {
      try {
        observe(group.length);
      } catch {
        // An observer's failure must not stop the queue.
      }
    }
    if (group.length === 1) await this.runAlone(group[0]);
    else await this.runGroup(group);
    if (this.queue.length > 0) this.drainSoon();
    else this.draining = false;
  }

  /** One transaction of its own, without a savepoint: the path every transaction took before group commit. */
  private async runAlone(unit: Unit): Promise<void> {
    try {
      unit.resolve(await this.withSync(!unit.asyncCommit, () => this.dataSource.transaction(unit.work)));
    } catch (error) {
      unit.reject(error);
    }
  }

  private async runGroup(group: Unit[]): Promise<void> {
    const outcomes: Outcome[] = [];
    let lost: unknown = null;
    try {
      await this.withSync(
        group.some((unit) => !unit.asyncCommit),
        () =>
          this.dataSource.transaction(async (em) => {
            const runner = em.queryRunner as QueryRunner;
            // One at a time: a unit sees the others' writes only as it would have after their commits.
            for (const unit of group) {
              // What a nested em.transaction(work) does (SAVEPOINT typeorm_1, then RELEASE or ROLLBACK TO),
              // by hand, because em.transaction hides a failed ROLLBACK TO.
              try {
                await runner.startTransaction();
                const value = await unit.work(em);
                await runner.commitTransaction();
                outcomes.push({ ok: true, value });
              } catch (error) {
                outcomes.push({ ok: false, error });
                const rolledBack = await runner.rollbackTransaction().then(
                  () => true,
                  () => false,
                );
                // SQLite ends the whole transaction itself on some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, …).
                if (!rolledBack || !this.inTransaction()) {
                  lost = error;
                  throw new GroupTransactionLost();
                }
              }
            }
          }),
      );
    } catch (error) {
      await this.repairRunner();
      group.forEach((unit, i) => {
        const own = outcomes[i] as Outcome | undefined;
        if (own && !own.ok) unit.reject(own.error);
        else if (lost === null) unit.reject(error); // the commit (or BEGIN, or the PRAGMA) failed: every unit fails with it
        else if (own) unit.reject(new Error('SQLite rolled back the shared transaction after another transaction of its group failed', { cause: lost }));
      });
      // Units that never ran go first in the next group.
      if (lost !== null) this.queue.unshift(...group.slice(outcomes.length));
      return;
    }
    group.forEach((unit, i) => {
      const own = outcomes[i];
      if (own.ok) unit.resolve(own.value);
      else unit.reject(own.error);
    });
  }

  /**
   * SQLite: `work` with a full WAL sync (`durable`), or without it and back to a full sync after.
   * Set around the transaction: SQLite refuses to change `synchronous` inside one.
   */
  private async withSync<T>(durable: boolean, work: () => Promise<T>): Promise<T> {
    if (durable) return work();
    await this.dataSource.query('PRAGMA synchronous = NORMAL');
    try {
      return await work();
    } finally {
      await this.dataSource.query('PRAGMA synchronous = FULL');
    }
  }

  /** Whether the connection is inside a transaction (better-sqlite3 tells; another driver is assumed to be). */
  private inTransaction(): boolean {
    const connection = (this.dataSource.driver as { databaseConnection?: { inTransaction?: unknown } }).databaseConnection;
    return typeof connection?.inTransaction === 'boolean' ? connection.inTransaction : true;
  }

  /**
   * After a group's transaction was lost or its commit failed, TypeORM's ROLLBACK TO / ROLLBACK may
   * have failed too, leaving its query runner (one, shared, on SQLite) counting a nesting that no
   * longer exists: end any transaction still open and start the runner over at depth 0.
   */
  private async repairRunner(): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    if (this.inTransaction()) await runner.query('ROLLBACK').catch(() => undefined);
    // `transactionDepth` is protected in TypeORM's types; nothing public resets it.
    if (runner.isTransactionActive) Object.assign(runner, { isTransactionActive: false, transactionDepth: 0 });
  }
}

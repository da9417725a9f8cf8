import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Worker } from 'node:worker_threads';
import { DataSource } from 'typeorm';
import { databaseConfig, DatabaseConfig } from '../config/database.config';

/** How often the worker thread checkpoints; the WAL grows by what is committed in between. */
const CHECKPOINT_INTERVAL_MS = 250;
/** SQLite's default `wal_autocheckpoint`, restored if the worker thread stops. */
const AUTO_CHECKPOINT_PAGES = 1000;

/** The worker thread: its own connection to the file, a PASSIVE checkpoint (never waits for writers) at each tick. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { timeout: 5000 });
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (error) { parentPort.postMessage({ error: String(error) }); }
}, workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
`;

/**
 * SQLite in WAL mode copies the WAL back into the database file (a checkpoint, with its fsyncs)
 * inside whichever commit crosses `wal_autocheckpoint` pages. better-sqlite3 is synchronous, so
 * that commit, and with it every request and delivery of the process, waits. This moves
 * checkpoints to a worker thread with its own connection (SQLite allows a checkpoint to run while
 * the main connection writes) and turns the automatic ones off; if the thread dies, automatic
 * checkpoints come back. Durability is unchanged: a commit is durable by its WAL write (and fsync
 * where `synchronous` asks for one), not by a checkpoint.
 */
@Injectable()
export class SqliteCheckpointer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SqliteCheckpointer.name);
  private worker: Worker | null = null;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(databaseConfig.KEY) private readonly config: DatabaseConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.dataSource.options.type !== 'better-sqlite3' || !this.config.backgroundCheckpoint) return;
    if (this.config.sqlitePath === ':memory:' || this.config.sqlitePath === '') return;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver: require.resolve('better-sqlite3'), path: this.config.sqlitePath, intervalMs: CHECKPOINT_INTERVAL_MS },
    });
    worker.unref();
    worker.on('message', (message: { error?: string }) => {
      if (message.error) this.logger.warn(`WAL checkpoint failed: ${message.error}`);
    });
    worker.on('error', (error) => this.logger.error({ err: error }, 'the WAL checkpoint thread failed'));
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.logger.warn('the WAL checkpoint thread stopped: automatic checkpoints are back on');
      void this.dataSource.query(`PRAGMA wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`).catch(() => undefined);
    });
    this.worker = worker;
    await this.dataSource.query('PRAGMA wal_autocheckpoint = 0');
  }

  async onApplicationShutdown(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('stop');
    await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
    await worker.terminate();
  }
}

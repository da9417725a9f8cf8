import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseConfig } from '../config/database.config';
import { MIGRATIONS } from '../../migrations/migrations';

/**
 * Every entity file, for the DataSources built outside Nest (the migration CLI, tests, benchmarks).
 * The app and the CLI tools register none here: each module names its own entities with
 * `TypeOrmModule.forFeature`, collected by `autoLoadEntities` ({@link nestDataSourceOptions}).
 */
const ENTITY_FILES = join(__dirname, '..', '**', '*.entity.{ts,js}');

/**
 * The one place that turns database config into TypeORM options: used by the app's
 * TypeOrmModule and by `ormconfig.ts` (the migration CLI). `synchronize` is never on.
 */
export function buildDataSourceOptions(config: DatabaseConfig): DataSourceOptions {
  const common = {
    entities: [ENTITY_FILES] as string[],
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    logging: config.logging,
  } as const;
  if (config.type === 'postgres') {
    return {
      ...common,
      type: 'postgres',
      url: config.url,
      schema: config.schema,
      poolSize: config.poolSize,
      // Keep unqualified names (raw SQL, migrations) in the configured schema as well.
      extra: config.schema ? { options: `-c search_path=${config.schema}` } : undefined,
    };
  }
  if (config.sqlitePath !== ':memory:') mkdirSync(dirname(config.sqlitePath), { recursive: true });
  // better-sqlite3 rather than sqlite3: the bench measured 3.7 → 1.7 ms of CPU per cached
  // users_read, as sqlite3 crosses the libuv thread pool three times per statement.
  return {
    ...common,
    type: 'better-sqlite3',
    database: config.sqlitePath,
    enableWAL: true,
    timeout: 5000,
    statementCacheSize: 200,
    prepareDatabase: (db: { pragma: (source: string) => unknown }) => {
      // SQLite's default page cache is 2 MiB; the delivery tables of a busy gateway are larger, and
      // every page missed is a read() on the event loop. This bounds the cache, it does not reserve it.
      db.pragma(`cache_size = -${config.sqliteCacheMiB * 1024}`);
      // Durable commits from the first one: better-sqlite3's WAL default is NORMAL, and set explicitly
      // here it stays FULL when TypeORM turns WAL on. Asynchronous commits relax it per transaction.
      db.pragma('synchronous = FULL');
    },
  };
}

/** For `TypeOrmModule.forRootAsync`: the entities are those the imported modules register. */
export function nestDataSourceOptions(config: DatabaseConfig, migrationsRun: boolean): TypeOrmModuleOptions {
  // No retries: the caller has waited for the database (DATABASE_CONNECT_TIMEOUT_MS) already,
  // and a failure here (a migration's) is not one that retrying fixes.
  return { ...buildDataSourceOptions(config), entities: [], autoLoadEntities: true, migrationsRun, toRetry: () => false };
}

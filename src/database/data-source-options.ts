import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseConfig } from '../config/database.config';
import { ENTITIES } from './entities';
import { MIGRATIONS } from '../../migrations/migrations';

/**
 * The one place that turns database config into TypeORM options: used by the app's
 * TypeOrmModule and by `ormconfig.ts` (the migration CLI). `synchronize` is never on.
 */
export function buildDataSourceOptions(config: DatabaseConfig): DataSourceOptions {
  const common = {
    entities: ENTITIES,
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
  return {
    ...common,
    type: 'sqlite',
    database: config.sqlitePath,
    enableWAL: true,
    busyTimeout: 5000,
  };
}

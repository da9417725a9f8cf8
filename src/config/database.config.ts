import { registerAs } from '@nestjs/config';
import { resolve } from 'node:path';
import { IsBoolean, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { EnvBoolean, validateConfig } from './validate-config';

class DatabaseEnv {
  /** `postgres://…` selects PostgreSQL; unset means the embedded SQLite file. */
  @IsOptional() @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL?: string;

  /** PostgreSQL schema to use (it must exist); tests give each run its own. */
  @IsOptional() @Matches(/^[a-z_][a-z0-9_]*$/, { message: 'DATABASE_SCHEMA must be a lower-case SQL identifier' })
  DATABASE_SCHEMA?: string;

  @IsOptional() @IsString()
  SQLITE_PATH: string = './data/gateway.db';

  @IsOptional() @EnvBoolean() @IsBoolean()
  DATABASE_MIGRATIONS_RUN: boolean = true;

  @IsOptional() @IsInt() @Min(1) @Max(200)
  DATABASE_POOL_SIZE: number = 10;

  /** PostgreSQL: how long the boot (service or command) waits for the server to accept a connection. */
  @IsOptional() @IsInt() @Min(100) @Max(600_000)
  DATABASE_CONNECT_TIMEOUT_MS: number = 10_000;

  @IsOptional() @EnvBoolean() @IsBoolean()
  DATABASE_LOGGING: boolean = false;

  /** SQLite: checkpoint the WAL from a worker thread instead of inside commits on the event loop. */
  @IsOptional() @EnvBoolean() @IsBoolean()
  SQLITE_BACKGROUND_CHECKPOINT: boolean = true;

  /** SQLite: the most memory (MiB) the connection's page cache may use (SQLite's own default is 2). */
  @IsOptional() @IsInt() @Min(2) @Max(4096)
  SQLITE_CACHE_MIB: number = 64;

  /** SQLite: the most transactions that share one commit (group commit, TransactionRunner); 1 turns it off. */
  @IsOptional() @IsInt() @Min(1) @Max(1024)
  SQLITE_GROUP_MAX: number = 64;
}

export function readDatabaseConfig(env: Record<string, string | undefined> = process.env) {
  const v = validateConfig(env, DatabaseEnv);
  return {
    type: v.DATABASE_URL ? ('postgres' as const) : ('sqlite' as const),
    url: v.DATABASE_URL,
    schema: v.DATABASE_SCHEMA,
    sqlitePath: v.SQLITE_PATH,
    migrationsRun: v.DATABASE_MIGRATIONS_RUN,
    poolSize: v.DATABASE_POOL_SIZE,
    connectTimeoutMs: v.DATABASE_CONNECT_TIMEOUT_MS,
    logging: v.DATABASE_LOGGING,
    backgroundCheckpoint: v.SQLITE_BACKGROUND_CHECKPOINT,
    sqliteCacheMiB: v.SQLITE_CACHE_MIB,
    sqliteGroupMax: v.SQLITE_GROUP_MAX,
  };
}

/** host:port of a PostgreSQL URL (5432 when it names none). */
export function postgresAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}`;
  } catch {
    return 'an unparsable DATABASE_URL';
  }
}

/** Which database, where, without the password: `PostgreSQL user@host:port/db (schema s)` or `SQLite /path`. */
export function describeDatabase(config: DatabaseConfig): string {
  if (config.type === 'sqlite') return `SQLite ${config.sqlitePath === ':memory:' ? ':memory:' : resolve(config.sqlitePath)}`;
  const url = config.url ?? '';
  let where = postgresAddress(url);
  try {
    const u = new URL(url);
    where = `${u.username ? `${decodeURIComponent(u.username)}@` : ''}${where}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    // postgresAddress said so already.
  }
  return `PostgreSQL ${where}${config.schema ? ` (schema ${config.schema})` : ''}`;
}

export type DatabaseConfig = ReturnType<typeof readDatabaseConfig>;

export const databaseConfig = registerAs('database', () => readDatabaseConfig());

import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { createTestDatabase, TestDatabase } from './test-database';

/** Cheap argon2 for tests; verification of real (argon2-cffi) hashes still uses their own cost. */
export const TEST_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  CALLBACK_JWT: 'off',
  ARGON2_MEMORY_KIB: '4096',
  ARGON2_TIME_COST: '1',
  ARGON2_PARALLELISM: '1',
};

export interface TestApp {
  app: NestFastifyApplication;
  dataSource: DataSource;
  /** The HTTP server for supertest. */
  server: ReturnType<NestFastifyApplication['getHttpServer']>;
  close(): Promise<void>;
}

/** Runs `work` with extra environment variables set, restoring the previous values after. */
export async function withEnv<T>(env: Record<string, string | undefined>, work: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const assign = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  assign(env);
  try {
    return await work();
  } finally {
    assign(saved);
  }
}

/**
 * Boots the real AppModule on Fastify against a fresh database (SQLite file, or a PostgreSQL
 * schema with TEST_DB=postgres), migrations applied, as `main.ts` does, minus listen().
 */
export async function createTestApp(env: Record<string, string> = {}, database?: TestDatabase): Promise<TestApp> {
  const db = database ?? (await createTestDatabase());
  const app = await withEnv({ ...TEST_ENV, ...db.env, ...env }, () => createApp());
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  const dataSource = app.get<DataSource>(getDataSourceToken());
  return {
    app,
    dataSource,
    server: app.getHttpServer(),
    close: async () => {
      await app.close();
      if (!database) await db.drop();
    },
  };
}

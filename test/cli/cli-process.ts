import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { readDatabaseConfig } from '../../src/config/database.config';
import { buildDataSourceOptions } from '../../src/database/data-source-options';
import { TEST_ENV } from '../setup/create-test-app';
import type { TestDatabase } from '../setup/test-database';

export const ROOT_DIR = resolve(__dirname, '../..');

export interface ProcessOutcome {
  /** The exit code; null when the process was killed (it hung past its time limit). */
  code: number | null;
  stdout: string;
  /** stderr without the `cyberapp-gateway: …` lines, which are in `settings`. */
  stderr: string;
  /** The lines in which a command names the settings it uses (its database, its env file). */
  settings: string[];
}

const SETTINGS_LINE = /^cyberapp-gateway: .*\n/gm;

/**
 * Runs a command in the project directory with the test database's environment, stdin a closed
 * pipe (so: not a terminal), and kills it after `timeoutMs` so a process waiting on input fails
 * the test instead of hanging it.
 */
export function runProcess(command: string, args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<ProcessOutcome> {
  const inherited = { ...process.env };
  // A developer's own seed credentials must not leak into a test that runs without any.
  delete inherited.SEED_ROOT_LOGIN;
  delete inherited.SEED_ROOT_PASSWORD;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: ROOT_DIR, env: { ...inherited, ...TEST_ENV, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr: stderr.replace(SETTINGS_LINE, ''), settings: (stderr.match(SETTINGS_LINE) ?? []).map((l) => l.trimEnd()) });
    });
  });
}

/** The CLI without npm: its entry under ts-node, as package.json's scripts run it. */
export function runCli(database: TestDatabase, args: string[], env: Record<string, string> = {}): Promise<ProcessOutcome> {
  return runProcess(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/cli/cli.ts', ...args], { ...database.env, ...env });
}

/** `npm run seed`. */
export function runSeed(database: TestDatabase, args: string[], env: Record<string, string> = {}): Promise<ProcessOutcome> {
  return runCli(database, ['seed', ...args], env);
}

/** A DataSource on the test database, configured as the app would be from the same environment. */
export async function openDataSource(database: TestDatabase): Promise<DataSource> {
  return new DataSource(buildDataSourceOptions(readDatabaseConfig(database.env))).initialize();
}

/** The tables of the test database (its schema on PostgreSQL), sorted. */
export async function listTables(database: TestDatabase): Promise<string[]> {
  const ds = await openDataSource(database);
  try {
    const rows: Array<{ name: string }> =
      ds.options.type === 'postgres'
        ? await ds.query(
            `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`,
            [database.env.DATABASE_SCHEMA],
          )
        : await ds.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`);
    return rows.map((r) => r.name).sort();
  } finally {
    await ds.destroy();
  }
}

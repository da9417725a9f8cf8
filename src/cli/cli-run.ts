import 'reflect-metadata';
import { CommandFactory } from 'nest-commander';
import { describeDatabase, readDatabaseConfig } from '../config/database.config';
import { loadEnvFile } from '../config/env-file';
import { waitForDatabase } from '../database/wait-for-database';
import { asksForHelp } from './cli-help';
import { CliModule } from './cli.module';

/** Where a command says which settings it uses (stderr: stdout is the command's own output). */
const SETTINGS_PREFIX = 'cyberapp-gateway: ';

function fail(error: unknown): void {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}

/**
 * Runs a command: first one line on stderr naming the database it works on (type and location,
 * never a password) and the env file, since a command may run with other settings than the
 * service; then, on PostgreSQL, waits for the server (DATABASE_CONNECT_TIMEOUT_MS). Help alone
 * touches no database: the commands are built on an in-memory one. A failure prints its reason
 * and exits with 1.
 */
async function main(): Promise<void> {
  if (asksForHelp(process.argv.slice(2))) {
    process.env.SQLITE_PATH = ':memory:';
    delete process.env.DATABASE_URL;
  } else {
    const envFile = loadEnvFile();
    const database = readDatabaseConfig();
    process.stderr.write(`${SETTINGS_PREFIX}database ${describeDatabase(database)}; env file ${envFile.path}${envFile.loaded ? '' : ' (none)'}\n`);
    await waitForDatabase(database);
  }
  // A command does its one job: the webhook dispatcher and delivery worker run in the service only.
  process.env.WEBHOOKS_WORKER_ENABLED = 'false';
  await CommandFactory.run(CliModule, {
    logger: ['error', 'warn'],
    // Throw instead of aborting the process when the context cannot start (bad config, no database).
    abortOnError: false,
    cliName: 'cyberapp-gateway',
    serviceErrorHandler: fail,
  });
}

main().catch(fail);

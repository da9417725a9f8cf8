import 'reflect-metadata';
import { CommandFactory } from 'nest-commander';
import { loadEnvFile } from '../config/env-file';
import { CliModule } from './cli.module';

function fail(error: unknown): void {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}

loadEnvFile();
// A command does its one job: the webhook dispatcher and delivery worker run in the service only.
process.env.WEBHOOKS_WORKER_ENABLED = 'false';

/** `cli.ts <command>`: see `cli.ts --help`. A failure prints its reason and exits with 1. */
CommandFactory.run(CliModule, {
  logger: ['error', 'warn'],
  // Throw instead of aborting the process when the context cannot start (bad config, no database).
  abortOnError: false,
  cliName: 'cyberapp-gateway',
  serviceErrorHandler: fail,
}).catch(fail);

import 'reflect-metadata';
import { CommandFactory } from 'nest-commander';
import { ActionHandlerCliModule } from './action-handler-cli.module';

function fail(error: unknown): void {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}

/** The action handler (action-handler.command.ts); a failure prints its reason and exits with 1. */
CommandFactory.run(ActionHandlerCliModule, { logger: ['error', 'warn'], abortOnError: false, cliName: 'action-handler', serviceErrorHandler: fail }).catch(fail);

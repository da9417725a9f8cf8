import 'reflect-metadata';
import { CommandFactory } from 'nest-commander';
import { ActionHandlerCliModule } from './action-handler-cli.module';

function fail(error: unknown): void {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}

/**
 * `action-handler-cli.ts --url … --ledger … --map …`: the on-premises action handler. Its own entry
 * (not `cli.ts`) because it runs on the customer's machines, without the gateway's database.
 */
CommandFactory.run(ActionHandlerCliModule, { logger: ['error', 'warn'], abortOnError: false, cliName: 'action-handler', serviceErrorHandler: fail }).catch(fail);

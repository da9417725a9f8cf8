import { storedHelp } from './cli-help';

/**
 * `action-handler-cli.ts --url … --ledger … --map …`: the on-premises action handler. Its own entry
 * (not `cli.ts`) because it runs on the customer's machines, without the gateway's database.
 * Help comes from the text stored by the build when there is one, without loading Nest.
 */
const help = storedHelp('action-handler', process.argv.slice(2));
if (help !== undefined) process.stdout.write(help);
else void import('./action-handler-run');

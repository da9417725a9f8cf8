import { storedHelp } from './cli-help';

/**
 * `cli.ts <command>` (`npm run cli -- <command>`): see `--help`. Help comes from the text stored by
 * the build when there is one, without loading Nest; everything else runs in cli-run.ts.
 */
const help = storedHelp('cli', process.argv.slice(2));
if (help !== undefined) process.stdout.write(help);
else void import('./cli-run');

import 'reflect-metadata';
import type { Type } from '@nestjs/common';
import { writeFileSync } from 'node:fs';
import { CommandFactory, CommandRunnerService } from 'nest-commander';
import { HELP_FILE, type StoredHelp } from './cli-help';

/** What this needs of a commander command (nest-commander builds them; commander is its dependency). */
interface HelpCommand {
  name(): string;
  name(name: string): HelpCommand;
  readonly commands: readonly HelpCommand[];
  configureOutput(output: { writeOut(text: string): void; writeErr(text: string): void; getOutHelpWidth(): number }): HelpCommand;
  outputHelp(): void;
}

/** Help is wrapped at 80 columns, whatever the terminal of the build. */
const WIDTH = 80;

/** Every command's help text, keyed by its path ('' for the program, 'user add', …). */
async function helpOf(module: Type<unknown>, programName: string): Promise<Record<string, string>> {
  const app = await CommandFactory.createWithoutRunning(module, { logger: ['error', 'warn'] });
  try {
    // The program as nest-commander built it (the @RootCommand when there is one): not public.
    const program = app.get<CommandRunnerService, { commander: HelpCommand }>(CommandRunnerService).commander;
    if (!program.name()) program.name(programName);
    const texts: Record<string, string> = {};
    const walk = (command: HelpCommand, path: string[]): void => {
      let text = '';
      command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s), getOutHelpWidth: () => WIDTH });
      command.outputHelp();
      texts[path.join(' ')] = text;
      for (const sub of command.commands) walk(sub, [...path, sub.name()]);
    };
    walk(program, []);
    return texts;
  } finally {
    await app.close();
  }
}

/**
 * `npm run build` runs this after `nest build`: it builds both command lines as they run (with an
 * in-memory database, nothing else touched) and stores the help of every command in HELP_FILE,
 * so that `--help` answers without starting Nest or opening a database. Failing here only costs
 * that speed: the build goes on.
 */
async function main(): Promise<void> {
  process.env.SQLITE_PATH = ':memory:';
  delete process.env.DATABASE_URL;
  process.env.WEBHOOKS_WORKER_ENABLED = 'false';
  const { CliModule } = await import('./cli.module');
  const { ActionHandlerCliModule } = await import('./action-handler-cli.module');
  const help: StoredHelp = { cli: await helpOf(CliModule, 'cli'), 'action-handler': await helpOf(ActionHandlerCliModule, 'action-handler') };
  writeFileSync(HELP_FILE, `${JSON.stringify(help, null, 2)}\n`);
  process.stdout.write(`${HELP_FILE}: help of ${Object.keys(help.cli).length + Object.keys(help['action-handler']).length} commands\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`warning: no stored command help (--help will start each command to answer): ${error instanceof Error ? error.message : String(error)}\n`);
});

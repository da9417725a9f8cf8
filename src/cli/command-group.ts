import { CommandRunner } from 'nest-commander';

/** A command that only groups its subcommands: alone, it prints their list (the help) and exits 1. */
export abstract class CommandGroup extends CommandRunner {
  run(): Promise<void> {
    this.command.outputHelp();
    process.exitCode = 1;
    return Promise.resolve();
  }
}

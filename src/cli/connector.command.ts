import { Command, CommandRunner } from 'nest-commander';
import { ConnectorRunCommand } from './connector-run.command';

/** `connector <subcommand>`: the Acronis connector's tools; alone, it prints their list. */
@Command({ name: 'connector', description: 'Acronis connector tools (connector run)', subCommands: [ConnectorRunCommand] })
export class ConnectorCommand extends CommandRunner {
  run(): Promise<void> {
    this.command.outputHelp();
    process.exitCode = 1;
    return Promise.resolve();
  }
}

import { Command } from 'nest-commander';
import { CommandGroup } from './command-group';
import { ConnectorRunCommand } from './connector-run.command';

/** `connector <subcommand>`: the Acronis connector's tools; alone, it prints their list. */
@Command({ name: 'connector', description: 'Acronis connector tools (connector run)', subCommands: [ConnectorRunCommand] })
export class ConnectorCommand extends CommandGroup {}

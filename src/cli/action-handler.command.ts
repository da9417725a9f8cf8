import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CommandRunner, Help, Option, RootCommand } from 'nest-commander';
import { ActionCommandRunner, CommandTemplate } from '../actions/action-command-runner';
import { ActionHandlerClient } from '../actions/action-handler-client';
import { HandlerLedger } from '../actions/action-handler-ledger';
import { reconnectDelayMs } from '../actions/reconnect-backoff';

const HELP = `
Connects outbound to the gateway's /api/action-ws/1.0 with its token and runs the capability of
each action it is sent as a local command; arguments are split on white space and never pass
through a shell. The ledger records every action taken, so that none runs twice across restarts.
Runs until SIGTERM or SIGINT, reconnecting whenever the connection drops.

Example:
  ACTION_HANDLER_TOKEN=… npm run action-handler -- --url ws://gateway:8080 --ledger ./ledger.json \\
    --map 'ExecuteCommand=/usr/local/bin/run {Command}'
`;

interface HandlerOptions {
  url?: string;
  token?: string;
  ledger?: string;
  config?: string;
  map: Record<string, CommandTemplate>;
  timeout?: number;
  backoffScale?: number;
  heartbeat?: number;
}

/**
 * `action-handler`: the on-premises action handler. Connects outbound to the gateway's
 * `/api/action-ws/1.0` with its token (`--token` or ACTION_HANDLER_TOKEN) and runs each action's
 * capability as a local command (`--map 'ExecuteCommand=/usr/local/bin/run {Command}'`, or a JSON
 * `--config` file `{"ExecuteCommand": {"argv": ["/usr/local/bin/run", "{Command}"], "timeoutMs": 60000}}`).
 * Arguments are split on white space and never pass through a shell. Runs until SIGTERM/SIGINT.
 */
// The program itself (not a subcommand of it): `--help` lists its options.
@RootCommand({ name: 'action-handler', description: 'Run an action handler: connect to the gateway and run actions as local commands' })
export class ActionHandlerCommand extends CommandRunner {
  async run(_args: string[], options: HandlerOptions = { map: {} }): Promise<void> {
    const token = options.token ?? process.env.ACTION_HANDLER_TOKEN;
    if (!options.url) throw new Error('--url is required (ws://host:port or wss://host).');
    if (!token) throw new Error('--token or ACTION_HANDLER_TOKEN is required.');
    if (!options.ledger) throw new Error('--ledger <file> is required: it is what keeps an action from running twice.');
    const commands: Record<string, CommandTemplate> = { ...(options.config ? readConfig(options.config) : {}), ...options.map };
    if (Object.keys(commands).length === 0) throw new Error('Map at least one capability: --map Capability=command… or --config file.json.');
    const scale = options.backoffScale ?? 1;
    const client = new ActionHandlerClient({
      url: options.url,
      token,
      ledger: new HandlerLedger(resolve(options.ledger)),
      runner: new ActionCommandRunner(commands, options.timeout ?? 300_000),
      reconnectDelay: (attempt) => Math.round(reconnectDelayMs(attempt) * scale),
      heartbeatMs: options.heartbeat,
    });
    client.start();
    await new Promise<void>((done) => {
      const stop = (): void => void client.stop().then(done);
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  }

  @Option({ flags: '--url <url>', description: 'The gateway, ws://host:port or wss://host (the path /api/action-ws/1.0 is added)' })
  parseUrl(value: string): string {
    return value;
  }

  @Option({ flags: '--token <token>', description: 'The handler token (prefer ACTION_HANDLER_TOKEN: arguments are visible to other users)' })
  parseToken(value: string): string {
    return value;
  }

  @Option({ flags: '--ledger <file>', description: 'The ledger file (created if missing)' })
  parseLedger(value: string): string {
    return value;
  }

  @Option({ flags: '--config <file>', description: 'JSON: {"Capability": {"argv": ["program", "{Param}"], "timeoutMs"?: n, "cwd"?: dir}}' })
  parseConfig(value: string): string {
    return value;
  }

  @Option({ flags: '--map <capability=command>', description: 'Capability=program arg {Param} …; repeatable' })
  parseMap(value: string, previous: Record<string, CommandTemplate> = {}): Record<string, CommandTemplate> {
    const at = value.indexOf('=');
    const argv = value.slice(at + 1).trim().split(/\s+/).filter(Boolean);
    if (at <= 0 || argv.length === 0) throw new Error(`--map ${value}: expected Capability=program [args…]`);
    return { ...previous, [value.slice(0, at)]: { argv } };
  }

  @Option({ flags: '--timeout <ms>', description: 'Longest run of one command (default 300000; an action with a shorter timeout gets that)' })
  parseTimeout(value: string): number {
    return positive(value, '--timeout');
  }

  @Option({ flags: '--heartbeat <ms>', description: 'Ping the gateway this often; no answer by the next ping drops the connection and reconnects (default 30000)' })
  parseHeartbeat(value: string): number {
    return positive(value, '--heartbeat');
  }

  @Help('after')
  help(): string {
    return HELP;
  }

  @Option({ flags: '--backoff-scale <factor>', description: 'Multiplies the reconnect schedule (0, 1 … 10 s, +10 s to 60 s, then 60-600 s); for tests' })
  parseBackoffScale(value: string): number {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new Error('--backoff-scale must be a number >= 0');
    return n;
  }
}

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer`);
  return n;
}

function readConfig(path: string): Record<string, CommandTemplate> {
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${path}: expected a JSON object of capabilities`);
  for (const [name, t] of Object.entries(parsed as Record<string, unknown>)) {
    const argv = (t as { argv?: unknown } | null)?.argv;
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string')) throw new Error(`${path}: ${name}.argv must be a non-empty array of strings`);
  }
  return parsed as Record<string, CommandTemplate>;
}

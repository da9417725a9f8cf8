import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The help of every command, written by `npm run build` (cli-help-build.ts) next to the compiled
 * entries: `{ "cli": { "": root help, "user add": …, … }, "action-handler": { "": … } }`. Absent
 * when running the sources (ts-node): then `--help` builds the commands as usual.
 */
export const HELP_FILE = join(__dirname, 'cli-help.json');

export type StoredHelp = Record<string, Record<string, string>>;

/** The arguments before `--` (what follows are operands, even if they look like options). */
function beforeOperands(args: readonly string[]): readonly string[] {
  const end = args.indexOf('--');
  return end < 0 ? args : args.slice(0, end);
}

/** `-h`, `--help`, or `help [command]`: the command line asks for help only. */
export function asksForHelp(args: readonly string[]): boolean {
  const options = beforeOperands(args);
  return options.includes('-h') || options.includes('--help') || options[0] === 'help';
}

/**
 * The stored help text for this command line, as commander would print it: `-h`/`--help` after
 * the words naming a command (`user add --help`, also with its own arguments and options before
 * the flag), or `help [command]`. Undefined when there is no stored help or the command line is
 * one it cannot answer (an unknown command): commander then says what it says.
 */
export function storedHelp(cli: string, args: readonly string[], file = HELP_FILE): string | undefined {
  if (!asksForHelp(args) || !existsSync(file)) return undefined;
  let texts: Record<string, string> | undefined;
  try {
    texts = (JSON.parse(readFileSync(file, 'utf8')) as StoredHelp)[cli];
  } catch {
    return undefined;
  }
  if (!texts) return undefined;
  const options = beforeOperands(args);
  const firstOption = options.findIndex((a) => a.startsWith('-'));
  const words = firstOption < 0 ? [...options] : options.slice(0, firstOption);
  if (words[0] === 'help' && !('help' in texts)) return words.length <= 2 ? texts[words.slice(1).join(' ')] : undefined;
  if (words.length > 0 && Object.keys(texts).length > 1 && !(words[0] in texts)) return undefined;
  let path: string[] = [];
  for (const word of words) {
    if (!([...path, word].join(' ') in texts)) break;
    path = [...path, word];
  }
  return texts[path.join(' ')];
}

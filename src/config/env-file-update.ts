import { parse } from 'dotenv';
import { chmodSync, chownSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';

export interface EnvTextUpdate {
  /** The new text of the file (the old one when nothing changes). */
  text: string;
  /** Keys that were not set (absent, or set to an empty value). */
  added: string[];
  /** Keys that had another, non-empty value. */
  replaced: string[];
  /** Keys that already had the value. */
  unchanged: string[];
  /** The values the file had for the keys given (undefined: not set). */
  previous: Record<string, string | undefined>;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A value as dotenv reads it back unchanged: bare when that is safe, else in the first quotes that
 * fit (double quotes only without a backslash, since dotenv expands `\n` in them). updateEnvText
 * parses the result back, so a case missed here is refused rather than written wrong.
 */
function encode(key: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new Error(`${key}: a value on several lines cannot be written to an env file.`);
  if (/^[^\s#'"`]*$/.test(value)) return value;
  const fits: Array<[string, boolean]> = [
    ["'", !value.includes("'") && !value.endsWith('\\')],
    ['"', !value.includes('"') && !value.includes('\\')],
    ['`', !value.includes('`') && !value.endsWith('\\')],
  ];
  const quote = fits.find(([, ok]) => ok)?.[0];
  if (quote === undefined) throw new Error(`${key}: the value holds every kind of quote, which dotenv cannot read back as written.`);
  return `${quote}${value}${quote}`;
}

/** `KEY=…`, `export KEY=…` or `KEY: …` (the forms dotenv reads) at the start of a line. */
function assigns(line: string, key: string): RegExpExecArray | null {
  return new RegExp(`^(\\s*(?:export\\s+)?)${key}(?:\\s*=|:\\s)`).exec(line);
}

/**
 * Sets `values` in the text of an env file, touching nothing else: a key that is assigned has
 * each of its assignment lines rewritten in place (keeping `export `), a missing one is appended,
 * and every other line stays byte for byte, line endings included. A key that already has the
 * value is left as it is. The result is checked by parsing it back: every other variable must
 * read as before, or this throws and nothing is to be written.
 */
export function updateEnvText(text: string, values: Record<string, string>): EnvTextUpdate {
  const before = parse(text);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text === '' ? [] : text.split('\n');
  const previous = Object.fromEntries(Object.keys(values).map((key) => [key, before[key]]));
  const result: EnvTextUpdate = { text, added: [], replaced: [], unchanged: [], previous };
  const append: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (!KEY.test(key)) throw new Error(`${JSON.stringify(key)} is not a variable name.`);
    if (before[key] === value) {
      result.unchanged.push(key);
      continue;
    }
    (before[key] === undefined || before[key] === '' ? result.added : result.replaced).push(key);
    const assignment = `${key}=${encode(key, value)}`;
    let found = false;
    lines.forEach((line, i) => {
      const match = assigns(line, key);
      if (!match) return;
      found = true;
      lines[i] = `${match[1]}${assignment}${line.endsWith('\r') ? '\r' : ''}`;
    });
    if (!found) append.push(assignment);
  }
  if (result.added.length === 0 && result.replaced.length === 0) return result;

  let out = lines.join('\n');
  if (append.length > 0) {
    if (out !== '' && !out.endsWith('\n')) out += eol;
    out += append.map((line) => `${line}${eol}`).join('');
  }
  const after = parse(out);
  const expected: Record<string, string> = { ...before, ...values };
  const keys = new Set([...Object.keys(expected), ...Object.keys(after)]);
  for (const key of keys) {
    if (after[key] !== expected[key]) {
      throw new Error(`The env file cannot be updated safely (${key} would not read back as intended); set ${Object.keys(values).join(', ')} by hand.`);
    }
  }
  result.text = out;
  return result;
}

export interface EnvFileUpdate extends Omit<EnvTextUpdate, 'text'> {
  /** The file written (symbolic links followed). */
  path: string;
  written: boolean;
}

/** What `writeEnvValues` would do, without writing: the file's new text and the keys it changes. */
export function planEnvValues(path: string, values: Record<string, string>): EnvTextUpdate & { path: string } {
  const target = existsSync(path) ? realpathSync(path) : path;
  const text = existsSync(target) ? readFileSync(target, 'utf8') : '';
  return { ...updateEnvText(text, values), path: target };
}

/**
 * Sets `values` in the env file at `path` (see updateEnvText), creating it (mode 0600: it holds
 * secrets) when missing. The new text replaces the old in one rename, so a reader sees the old
 * file or the new one, never half of it; the file keeps its mode and, where permitted, its owner.
 * A symbolic link is followed: the file it names is the one replaced.
 */
export function writeEnvValues(path: string, values: Record<string, string>): EnvFileUpdate {
  const plan = planEnvValues(path, values);
  const { text, ...keys } = plan;
  if (plan.added.length === 0 && plan.replaced.length === 0) return { ...keys, written: false };
  const previous = existsSync(plan.path) ? statSync(plan.path) : null;
  const temporary = `${plan.path}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (previous) {
      chmodSync(temporary, previous.mode & 0o7777);
      if (typeof process.getuid === 'function' && (previous.uid !== process.getuid() || previous.gid !== process.getgid?.())) {
        try {
          chownSync(temporary, previous.uid, previous.gid);
        } catch {
          // Only root may give a file away; anyone else writes a file of their own, as an editor would.
        }
      }
    }
    renameSync(temporary, plan.path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  return { ...keys, written: true };
}

import { execFile } from 'node:child_process';
import type { ActionResult } from './action-frames';

/** How one capability runs: a program and its arguments, `{Name}` replaced by the action's parameter `Name` (`{id}`: the action id). */
export interface CommandTemplate {
  argv: string[];
  /** Upper bound for one run; the action's own timeout applies when shorter. */
  timeoutMs?: number;
  cwd?: string;
}

const MAX_OUTPUT = 512 * 1024;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;

/**
 * Runs actions as local commands: `execFile` with an argument array (no shell, so parameters are
 * never interpreted), a timeout, and bounded output. A result is the protocol's object: 200 with
 * stdout as `data`, 204 when there is none, 500 with the reason otherwise.
 */
export class ActionCommandRunner {
  constructor(
    private readonly commands: Record<string, CommandTemplate>,
    private readonly defaultTimeoutMs: number,
  ) {}

  get capabilities(): string[] {
    return Object.keys(this.commands);
  }

  run(id: string, capability: string, parameters: Record<string, unknown>, timeoutMs: number): Promise<ActionResult> {
    const template = this.commands[capability];
    if (!template) return Promise.resolve({ code: 501, message: `No command is configured for capability ${capability}.` });
    const missing: string[] = [];
    const values: Record<string, unknown> = { ...parameters, id };
    const argv = template.argv.map((arg) =>
      arg.replace(PLACEHOLDER, (_whole, name: string) => {
        const value = values[name];
        if (value === undefined || value === null) {
          missing.push(name);
          return '';
        }
        return typeof value === 'string' ? value : JSON.stringify(value);
      }),
    );
    if (missing.length > 0) return Promise.resolve({ code: 400, message: `Missing parameters: ${[...new Set(missing)].join(', ')}.` });
    const limit = Math.max(1, Math.min(timeoutMs, template.timeoutMs ?? this.defaultTimeoutMs));
    return new Promise((resolve) => {
      const done = (error: Error | null, stdout: string, stderr: string): void => {
        if (!error) {
          resolve(stdout.length > 0 ? { code: 200, message: 'Action successful', data: stdout } : { code: 204, message: 'Action successful (no data)' });
          return;
        }
        // execFile's error carries the exit status as a number in `code`, spawn failures a string.
        const e = error as { killed?: boolean; code?: unknown; message: string };
        const why = e.killed
          ? `timed out after ${limit} ms`
          : typeof e.code === 'number'
            ? `exit code ${String(e.code)}`
            : e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER'
              ? `output larger than ${MAX_OUTPUT} bytes`
              : `could not run ${argv[0]}: ${e.message}`;
        resolve({ code: 500, message: stderr.trim() ? `${why}: ${stderr.trim().slice(0, 4096)}` : why, ...(stdout ? { data: stdout } : {}) });
      };
      try {
        execFile(argv[0], argv.slice(1), { timeout: limit, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT, cwd: template.cwd, windowsHide: true }, done);
      } catch (error) {
        // Thrown at once for arguments no process can take (a NUL byte, an empty program name): a
        // rejection here would crash the handler and interrupt every other running action.
        resolve({ code: 400, message: `The command cannot be run with these parameters: ${error instanceof Error ? error.message : String(error)}` });
      }
    });
  }
}

import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');

/**
 * A scratch directory with the handler's ledger and a command that appends its first argument to
 * `effects.log` (the side effect the crash specs count), sleeps its second argument (seconds), then
 * prints `done <arg>`.
 */
export function handlerWorkspace(): { dir: string; ledger: string; effects: string; script: string; effectLines(): string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'action-handler-'));
  const effects = join(dir, 'effects.log');
  const script = join(dir, 'effect.sh');
  writeFileSync(script, `#!/bin/sh\nset -e\necho "$1" >> "${effects}"\nsleep "$2"\necho "done $1"\n`);
  chmodSync(script, 0o755);
  writeFileSync(effects, '');
  return {
    dir,
    ledger: join(dir, 'ledger.json'),
    effects,
    script,
    effectLines: () => readFileSync(effects, 'utf8').split('\n').filter(Boolean),
  };
}

/** The handler CLI (`src/cli/action-handler-cli.ts` under ts-node) as its own process. */
export class ActionHandlerProcess {
  output = '';
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    this.exited = new Promise((done) => child.on('close', (code) => done(code)));
  }

  static start(args: string[], env: Record<string, string> = {}): ActionHandlerProcess {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/cli/action-handler-cli.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new ActionHandlerProcess(child);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

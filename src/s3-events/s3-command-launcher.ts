import { ChildProcess, spawn } from 'node:child_process';

/** One command for the launcher to run. */
export interface LaunchRequest {
  file: string;
  args: string[];
  env: Record<string, string>;
  timeoutMs: number;
  /** Bytes of stdout and of stderr kept. */
  limit: number;
}

export interface LaunchResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  spawnError: string | null;
  stdout: string | null;
  stderr: string | null;
}

/**
 * The launcher, plain JavaScript run with `node -e` (no build step, no ts-node): it receives
 * requests over IPC and runs each command in its own process group, with the timeout (SIGKILL to
 * the group), output limits and a one-second grace for output held open by background children.
 * When the gateway goes away, even by SIGKILL, the IPC channel closes and the launcher kills every
 * group it started, then exits.
 */
const LAUNCHER_SOURCE = String.raw`
'use strict';
const { spawn } = require('node:child_process');
const running = new Map();
const killGroup = (child) => { try { process.kill(-child.pid, 'SIGKILL'); } catch {} };
const text = (chunks, total, limit) => {
  if (total === 0) return null;
  const s = Buffer.concat(chunks).toString('utf8');
  return total > limit ? s + '\u2026[' + (total - limit) + ' more bytes]' : s;
};
process.on('message', (m) => {
  if (m.killId !== undefined) { const child = running.get(m.killId); if (child) killGroup(child); return; }
  const { id, file, args, env, timeoutMs, limit } = m;
  const out = { stdout: [], stderr: [], stdoutBytes: 0, stderrBytes: 0 };
  let timedOut = false, spawnError = null, lingering, sent = false, child;
  try {
    child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  } catch (error) {
    // Thrown, not emitted, for arguments Node refuses (a NUL byte in an object key): one bad request must not take the launcher, and every command it runs, down.
    process.send({ id, code: null, signal: null, timedOut: false, spawnError: String(error && error.message), stdout: null, stderr: null });
    return;
  }
  const finish = (code, signal) => {
    if (sent) return;
    sent = true;
    running.delete(id);
    clearTimeout(timer);
    clearTimeout(lingering);
    process.send({ id, code, signal, timedOut, spawnError,
      stdout: text(out.stdout, out.stdoutBytes, limit), stderr: text(out.stderr, out.stderrBytes, limit) });
  };
  running.set(id, child);
  const keep = (w) => (chunk) => {
    const bytes = out[w + 'Bytes'];
    if (bytes < limit) out[w].push(chunk.subarray(0, limit - bytes));
    out[w + 'Bytes'] += chunk.length;
  };
  child.stdout.on('data', keep('stdout'));
  child.stderr.on('data', keep('stderr'));
  const timer = setTimeout(() => { timedOut = true; killGroup(child); }, timeoutMs);
  child.on('error', (error) => { spawnError = error.message; if (child.pid === undefined) finish(null, null); });
  child.on('exit', () => {
    lingering = setTimeout(() => { child.stdout.destroy(); child.stderr.destroy(); }, 1000);
  });
  child.on('close', finish);
});
process.on('disconnect', () => { for (const child of running.values()) killGroup(child); process.exit(0); });
`;

interface Reply extends LaunchResult {
  id: number;
}

const lostHelper = (why: string): LaunchResult => ({ code: null, signal: null, timedOut: false, spawnError: why, stdout: null, stderr: null });

/**
 * Runs commands from a small helper process. Node forks the whole gateway for every `spawn`, and
 * that fork blocks the event loop (tens of milliseconds for a process of this size on a busy
 * host), which every intake request would wait behind; forking from a small launcher costs the
 * gateway one IPC message instead.
 */
export class CommandLauncher {
  private child: ChildProcess | null = null;
  private readonly waiting = new Map<number, (result: LaunchResult) => void>();
  private nextId = 1;

  /** Runs one command; aborting `signal` kills its process group. */
  run(request: LaunchRequest, signal?: AbortSignal): Promise<LaunchResult> {
    const child = this.child ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      signal?.addEventListener('abort', () => this.waiting.has(id) && child.connected && child.send({ killId: id }, () => undefined), { once: true });
      // With a callback, a closed channel (the helper died or is exiting) is reported here rather than as an unhandled 'error' event.
      child.send({ id, ...request }, (error) => {
        if (!error || !this.waiting.delete(id)) return;
        if (this.child === child) this.child = null;
        resolve(lostHelper(`the command launcher is gone (${error.message})`));
      });
    });
  }

  /** Stops the launcher; it kills what it still runs. */
  stop(): void {
    if (this.child?.connected) this.child.disconnect();
    this.child = null;
  }

  private start(): ChildProcess {
    const child = spawn(process.execPath, ['-e', LAUNCHER_SOURCE], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { PATH: process.env.PATH ?? '' },
    });
    child.on('message', (reply: Reply) => {
      const resolve = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      resolve?.(reply);
    });
    const gone = (why: string) => {
      if (this.child === child) this.child = null;
      for (const resolve of this.waiting.values()) resolve(lostHelper(why));
      this.waiting.clear();
    };
    child.on('exit', () => gone('the command launcher exited'));
    // A helper that could not be started may never emit 'exit': its waiters must not wait forever.
    child.on('error', (error) => gone(`the command launcher failed: ${error.message}`));
    this.child = child;
    return child;
  }
}

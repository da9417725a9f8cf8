import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** One action as the handler client remembers it. */
export interface LedgerEntry {
  capability: string;
  /** running: the command was (or is being) started; done: `result` holds what it answered. */
  state: 'running' | 'done';
  result?: string;
  /** The gateway acknowledged the result: nothing more to send. */
  delivered?: boolean;
  /** Epoch ms after which the gateway no longer takes a result; the entry is forgotten a day later. */
  expiresAt: number;
}

interface LedgerFile {
  version: 1;
  actions: Record<string, LedgerEntry>;
}

/** Entries are kept this long past their expiry, for a gateway that redelivers late. */
const KEEP_AFTER_EXPIRY_MS = 24 * 3600 * 1000;

/**
 * The handler client's own small ledger on disk (a JSON file), so that a crash and restart never
 * runs an action twice. Every change is written to a temporary file, fsync'd, renamed over the
 * ledger and the directory fsync'd, before the caller goes on: `start` is durable before the
 * command runs, `finish` before the result is sent.
 */
export class HandlerLedger {
  private readonly actions = new Map<string, LedgerEntry>();

  constructor(private readonly path: string) {
    if (!existsSync(path)) return;
    const file = JSON.parse(readFileSync(path, 'utf8')) as LedgerFile;
    const now = Date.now();
    for (const [id, entry] of Object.entries(file.actions ?? {})) {
      if (entry.expiresAt + KEEP_AFTER_EXPIRY_MS > now) this.actions.set(id, entry);
    }
  }

  get(id: string): LedgerEntry | undefined {
    return this.actions.get(id);
  }

  /** Results not yet acknowledged by the gateway and not expired: sent again after a reconnect. */
  undelivered(): Array<[string, LedgerEntry]> {
    const now = Date.now();
    return [...this.actions].filter(([, e]) => e.state === 'done' && !e.delivered && e.expiresAt > now);
  }

  start(id: string, capability: string, expiresAt: number): void {
    this.actions.set(id, { capability, state: 'running', expiresAt });
    this.save();
  }

  finish(id: string, result: string): void {
    const entry = this.actions.get(id);
    if (!entry) return;
    Object.assign(entry, { state: 'done', result });
    this.save();
  }

  markDelivered(id: string): void {
    const entry = this.actions.get(id);
    if (!entry || entry.delivered || entry.state !== 'done') return;
    entry.delivered = true;
    this.save();
  }

  private save(): void {
    const now = Date.now();
    for (const [id, e] of this.actions) if (e.expiresAt + KEEP_AFTER_EXPIRY_MS <= now) this.actions.delete(id);
    const file: LedgerFile = { version: 1, actions: Object.fromEntries(this.actions) };
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(file));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    // The rename itself must survive a power loss too.
    const dir = openSync(dirname(this.path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}

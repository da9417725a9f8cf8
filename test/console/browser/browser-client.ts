/// <reference lib="dom" />
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TEST_DB } from '../../setup/test-database';

/** Where the specs save their screenshots (git-ignored), one folder per database. */
export const SCREENSHOTS = join(__dirname, '..', '..', '..', 'test-output', 'screenshots', TEST_DB);
/** The two widths every page is checked and photographed at. */
export const WIDTHS = [1280, 375] as const;

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

export interface Navigation {
  status: number | null;
  url: string;
}

/**
 * Headless Chromium driven by puppeteer-core, in a child process (driver.ts says why). Each
 * {@link BrowserSession} is a fresh browser context: its own cookies, like a private window.
 */
export class BrowserClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {}

  static async start(): Promise<BrowserClient> {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, 'driver.ts')], {
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const client = new BrowserClient(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const started = new Promise<void>((resolve, reject) => {
      client.waiting.set(0, { resolve: () => resolve(), reject });
      child.once('exit', (code) => reject(new Error(`the browser driver exited (${code}) before starting: ${stderr.slice(-2000)}`)));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const reply = JSON.parse(line) as Reply;
      const waiter = client.waiting.get(reply.id);
      client.waiting.delete(reply.id);
      if (reply.ok) waiter?.resolve(reply.value);
      else waiter?.reject(new Error(`browser: ${reply.error ?? 'failed'}`));
    });
    await started;
    return client;
  }

  send<T>(op: string, ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: (value) => resolve(value as T), reject });
      this.child.stdin.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  async session(base: string): Promise<BrowserSession> {
    const context = await this.send<number>('newContext');
    const page = await this.send<number>('newPage', context);
    return new BrowserSession(this, base, context, page);
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    await exited;
  }
}

/** One page in its own browser context, with the console at `base`. */
export class BrowserSession {
  constructor(
    private readonly client: BrowserClient,
    readonly base: string,
    private readonly context: number,
    private readonly page: number,
  ) {}

  /** A console path (or a full URL) opened as if typed in the address bar. */
  goto(path: string): Promise<Navigation> {
    return this.client.send('goto', this.page, path.startsWith('http') ? path : `${this.base}${path}`);
  }

  /** Clicks and waits for the page it leads to. */
  clickAndWait(selector: string): Promise<Navigation> {
    return this.client.send('clickAndWait', this.page, selector);
  }

  /** Presses a key (e.g. Enter on a focused button) and waits for the page it leads to. */
  pressAndWait(key: string): Promise<Navigation> {
    return this.client.send('pressAndWait', this.page, key);
  }

  press(key: string): Promise<void> {
    return this.client.send('press', this.page, key);
  }

  type(selector: string, text: string): Promise<void> {
    return this.client.send('type', this.page, selector, text);
  }

  /** Runs `fn` in the page with JSON arguments; its result comes back as JSON. */
  evaluate<T, A extends unknown[]>(fn: (...args: A) => T, ...args: A): Promise<T> {
    return this.client.send('evaluate', this.page, fn.toString(), args);
  }

  /** Waits until `fn` returns something truthy in the page. */
  waitFor<A extends unknown[]>(fn: (...args: A) => unknown, args: A, timeoutMs = 10_000): Promise<void> {
    return this.client.send('waitFor', this.page, fn.toString(), args, timeoutMs);
  }

  /** The dialogs (confirm) seen so far; `accept` sets what the next ones get. */
  dialogs(accept?: boolean): Promise<string[]> {
    return this.client.send('dialogs', this.page, accept ?? null);
  }

  url(): Promise<string> {
    return this.evaluate(() => location.href);
  }

  text(selector = 'main'): Promise<string> {
    return this.evaluate((s: string) => document.querySelector(s)?.textContent?.replace(/\s+/g, ' ').trim() ?? '', selector);
  }

  /** Sets a field's value directly (a datetime-local input has no typing model worth driving). */
  setValue(selector: string, value: string): Promise<void> {
    return this.evaluate(
      (s: string, v: string) => {
        const input = document.querySelector<HTMLInputElement>(s);
        if (!input) throw new Error(`no ${s}`);
        input.value = v;
      },
      selector,
      value,
    );
  }

  /**
   * Saves the page at each width (test-output/screenshots/<db>/<name>-<width>.png) and checks it
   * is readable there: nothing wider than the window but inside a scrolling table.
   */
  async screenshot(name: string): Promise<void> {
    for (const width of WIDTHS) {
      await this.client.send('screenshot', this.page, join(SCREENSHOTS, `${name}-${width}.png`), width);
    }
    for (const width of WIDTHS) {
      await this.client.send('viewport', this.page, width);
      const overflow = await this.evaluate(() => {
        const limit = document.documentElement.clientWidth;
        if (document.documentElement.scrollWidth <= limit) return [];
        // What sticks out: anything but the content of a scrolling table or a preformatted block.
        const culprits = Array.from(document.querySelectorAll('body *'))
          .filter((el) => !el.parentElement?.closest('.table-wrap, pre') && el.getBoundingClientRect().right > limit + 1)
          .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${el.className}`);
        return [`page ${document.documentElement.scrollWidth} px wide`, ...culprits];
      });
      if (overflow.length > 0) throw new Error(`${name} overflows ${width} px: ${overflow.slice(0, 5).join(', ')}`);
    }
    await this.client.send('viewport', this.page, 1280);
  }

  close(): Promise<void> {
    return this.client.send('closeContext', this.context);
  }
}

/**
 * A child process that drives headless Chromium with puppeteer-core for the console specs, told
 * what to do by {@link BrowserClient} (browser-client.ts) over stdin/stdout, one JSON object a line.
 *
 * Why a child process: puppeteer-core is an ES module, and Jest (CommonJS, no
 * --experimental-vm-modules) cannot import one. Node itself can, so this process loads it with a
 * native import() (hidden from the TypeScript compiler, which would turn it into require()).
 *
 * Run with ts-node in transpile-only mode: `node -r ts-node/register/transpile-only driver.ts`.
 * CHROMIUM_BIN names the browser (default /usr/bin/chromium).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Browser, BrowserContext, Page } from 'puppeteer-core';

type Puppeteer = typeof import('puppeteer-core');

// A real dynamic import: this process is not under Jest, and puppeteer-core has no CommonJS build.
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- a constant source, to keep import() from being compiled to require()
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Puppeteer>;

interface Request {
  id: number;
  op: string;
  args: unknown[];
}

const contexts = new Map<number, BrowserContext>();
const pages = new Map<number, Page>();
/** Per page: whether dialogs (confirm) are accepted, and the messages seen. */
const dialogs = new Map<number, { accept: boolean; seen: string[] }>();
let nextId = 1;

function pageOf(id: unknown): Page {
  const page = pages.get(id as number);
  if (!page) throw new Error(`no page ${String(id)}`);
  return page;
}

/** `(source)(...args)` as an expression: functions come as their source text. */
const call = (source: string, args: unknown[]): string => `(${source})(...${JSON.stringify(args)})`;

async function navigation(page: Page, action: () => Promise<unknown>): Promise<{ status: number | null; url: string }> {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout: 15_000 }), action()]);
  return { status: response?.status() ?? null, url: page.url() };
}

async function handle(browser: Browser, op: string, args: unknown[]): Promise<unknown> {
  switch (op) {
    case 'newContext': {
      const id = nextId++;
      contexts.set(id, await browser.createBrowserContext());
      return id;
    }
    case 'closeContext': {
      const context = contexts.get(args[0] as number);
      contexts.delete(args[0] as number);
      await context?.close();
      return null;
    }
    case 'newPage': {
      const context = contexts.get(args[0] as number);
      if (!context) throw new Error(`no context ${String(args[0])}`);
      const page = await context.newPage();
      const id = nextId++;
      pages.set(id, page);
      const state = { accept: true, seen: [] as string[] };
      dialogs.set(id, state);
      page.on('dialog', (dialog) => {
        state.seen.push(dialog.message());
        void (state.accept ? dialog.accept() : dialog.dismiss());
      });
      await page.setViewport({ width: 1280, height: 900 });
      return id;
    }
    case 'goto': {
      const response = await pageOf(args[0]).goto(args[1] as string, { waitUntil: 'load', timeout: 15_000 });
      return { status: response?.status() ?? null, url: pageOf(args[0]).url() };
    }
    case 'clickAndWait': {
      const page = pageOf(args[0]);
      return navigation(page, () => page.click(args[1] as string));
    }
    case 'pressAndWait': {
      const page = pageOf(args[0]);
      return navigation(page, () => page.keyboard.press(args[1] as 'Enter'));
    }
    case 'press':
      await pageOf(args[0]).keyboard.press(args[1] as 'Tab');
      return null;
    case 'type':
      await pageOf(args[0]).type(args[1] as string, args[2] as string);
      return null;
    case 'evaluate':
      return pageOf(args[0]).evaluate(call(args[1] as string, args[2] as unknown[]));
    case 'waitFor':
      await pageOf(args[0]).waitForFunction(call(args[1] as string, args[2] as unknown[]), { timeout: args[3] as number, polling: 100 });
      return null;
    case 'dialogs': {
      const state = dialogs.get(args[0] as number);
      if (!state) throw new Error(`no page ${String(args[0])}`);
      if (typeof args[1] === 'boolean') state.accept = args[1];
      return state.seen.slice();
    }
    case 'screenshot': {
      const page = pageOf(args[0]);
      const path = args[1] as string;
      mkdirSync(dirname(path), { recursive: true });
      await page.setViewport({ width: args[2] as number, height: 900 });
      await page.screenshot({ path: `${path.replace(/\.png$/, '')}.png`, fullPage: true });
      await page.setViewport({ width: 1280, height: 900 });
      return null;
    }
    case 'viewport':
      await pageOf(args[0]).setViewport({ width: args[1] as number, height: 900 });
      return null;
    default:
      throw new Error(`unknown op ${op}`);
  }
}

async function main(): Promise<void> {
  const puppeteer = await importEsm('puppeteer-core');
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    headless: true,
    // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--disable-extensions', '--lang=en-US'],
  });
  const write = (message: unknown): void => void process.stdout.write(`${JSON.stringify(message)}\n`);
  write({ id: 0, ok: true, value: await browser.version() });
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const request = JSON.parse(line) as Request;
    handle(browser, request.op, request.args).then(
      (value) => write({ id: request.id, ok: true, value: value ?? null }),
      (error: unknown) => write({ id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
    );
  });
  lines.on('close', () => {
    void browser.close().then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stdout.write(`${JSON.stringify({ id: 0, ok: false, error: error instanceof Error ? error.message : String(error) })}\n`);
  process.exit(1);
});

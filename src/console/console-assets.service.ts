import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AssetUrls } from './views/layout';

interface Asset {
  body: Buffer;
  type: string;
  hash: string;
}

/** The two files the pages load, by name (nothing else is served from the folder). */
const FILES: Record<string, string> = {
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
};

/**
 * The console's one stylesheet and one script (src/console/assets, copied next to the compiled
 * code by `nest build`), read once at boot. Their URLs carry a hash of their content, so a
 * browser may keep them for good and still never runs a stale one after an upgrade.
 */
@Injectable()
export class ConsoleAssets {
  private readonly assets = new Map<string, Asset>();
  readonly urls: AssetUrls;

  constructor() {
    for (const [name, type] of Object.entries(FILES)) {
      const body = readFileSync(join(__dirname, 'assets', name));
      this.assets.set(name, { body, type, hash: createHash('sha256').update(body).digest('hex').slice(0, 16) });
    }
    this.urls = { css: this.urlOf('console.css'), js: this.urlOf('console.js') };
  }

  get(name: string): Asset | undefined {
    return this.assets.get(name);
  }

  private urlOf(name: string): string {
    return `/console/assets/${name}?v=${this.assets.get(name)?.hash ?? ''}`;
  }
}

#!/usr/bin/env node
// `npm run cli|seed|migrate|user|webhooks|hooks|connector:run|action-handler`: runs the compiled
// command line (dist/, from `npm run build`) when it is there and newer than every source file;
// else the sources, under ts-node (slower to start). Usage: node scripts/cli.js <cli|action-handler> [args…]
'use strict';
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const ENTRIES = { cli: 'src/cli/cli', 'action-handler': 'src/cli/action-handler-cli' };

/** The newest modification time of the .ts files under `dir` (0 when there are none). */
function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether dist/ holds `entry` built from the current sources. */
function compiledIsCurrent(entry) {
  const compiled = join(ROOT, 'dist', `${entry}.js`);
  if (!existsSync(compiled)) return false;
  const sources = Math.max(newestSource(join(ROOT, 'src')), newestSource(join(ROOT, 'migrations')));
  return statSync(compiled).mtimeMs >= sources;
}

const [name, ...args] = process.argv.slice(2);
const entry = ENTRIES[name];
if (!entry) {
  process.stderr.write(`usage: node scripts/cli.js <${Object.keys(ENTRIES).join('|')}> [arguments…]\n`);
  process.exit(2);
}
if (compiledIsCurrent(entry)) {
  process.argv = [process.argv[0], join(ROOT, 'dist', `${entry}.js`), ...args];
  require(process.argv[1]);
} else {
  if (existsSync(join(ROOT, 'dist', `${entry}.js`))) process.stderr.write('dist/ is older than the sources: running them under ts-node (npm run build starts faster)\n');
  process.argv = [process.argv[0], join(ROOT, `${entry}.ts`), ...args];
  require('ts-node').register({ transpileOnly: true });
  require(process.argv[1]);
}

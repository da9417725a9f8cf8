#!/usr/bin/env node
// The Dockerfile's prune stage, after `npm prune --omit=dev`: takes out of the app directory what
// the runtime never loads and that prune leaves behind.
//
// - Packages the lockfile marks `devOptional`: reachable from the runtime dependencies only
//   through optional peer dependencies (typescript via cosmiconfig, ts-node via typeorm, and
//   ts-node's own dependencies), so `--omit=dev` keeps them. Nothing at run time needs them: they
//   matter only for TypeScript config files and `.ts` migrations, which the image does not use.
// - What compiling a native module leaves (better-sqlite3 builds from source when no prebuilt
//   binary can be fetched): in a package with a `binding.gyp`, everything under `build/` but the
//   `.node` binaries, and the C/C++ sources, headers, objects, archives and gyp/make files.
// - `*.tsbuildinfo` under dist/ (tsc's incremental state).
//
// Usage: node scripts/prune-runtime.js [app dir, default .]; prints what it removed.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const app = path.resolve(process.argv[2] ?? '.');
const modules = path.join(app, 'node_modules');

/** Extensions and names of native build inputs and outputs, never loaded by node. */
const NATIVE_BUILD_FILE = /\.(c|cc|cpp|cxx|h|hh|hpp|hxx|o|a|d|mk|gyp|gypi)$|^Makefile$/i;

let removedBytes = 0;

function sizeOf(target) {
  const stat = fs.lstatSync(target);
  if (!stat.isDirectory()) return stat.size;
  let total = 0;
  for (const entry of fs.readdirSync(target)) total += sizeOf(path.join(target, entry));
  return total;
}

/** Removes a file or directory; returns its size in bytes. */
function remove(target) {
  const bytes = sizeOf(target);
  fs.rmSync(target, { recursive: true, force: true });
  removedBytes += bytes;
  return bytes;
}

function report(what, bytes) {
  console.log(`prune-runtime: removed ${what} (${(bytes / 1024 / 1024).toFixed(1)} MiB)`);
}

/** Depth-first: files first, then the directories left empty. */
function walk(dir, visit) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules') continue; // nested packages are visited on their own
      walk(full, visit);
      if (fs.readdirSync(full).length === 0) fs.rmdirSync(full);
    } else {
      visit(full, entry.name);
    }
  }
}

/** Every installed package directory, scoped and nested ones included. */
function packages(dir) {
  const found = [];
  if (!fs.existsSync(dir)) return found;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.name.startsWith('@')) {
      found.push(...packages(full));
      continue;
    }
    found.push(full, ...packages(path.join(full, 'node_modules')));
  }
  return found;
}

// 1. devOptional packages (the lockfile's paths are relative to the app directory).
const lock = JSON.parse(fs.readFileSync(path.join(app, 'package-lock.json'), 'utf8'));
for (const [location, entry] of Object.entries(lock.packages ?? {})) {
  if (!entry.devOptional || !location) continue;
  const dir = path.join(app, location);
  if (fs.existsSync(dir)) report(location, remove(dir));
}

// 2. Native build leftovers. The binary stays where `bindings`/`node-gyp-build` look for it:
//    build/Release (or Debug/Default, or build/ itself); copies under obj.target go.
const BINARY_DIRS = new Set(['', 'Release', 'Debug', 'Default']);
for (const pkg of packages(modules)) {
  if (!fs.existsSync(path.join(pkg, 'binding.gyp'))) continue;
  const build = path.join(pkg, 'build');
  let bytes = 0;
  let files = 0;
  const drop = (file) => {
    bytes += remove(file);
    files += 1;
  };
  if (fs.existsSync(build)) {
    walk(build, (file, name) => {
      if (!(name.endsWith('.node') && BINARY_DIRS.has(path.relative(build, path.dirname(file))))) drop(file);
    });
  }
  walk(pkg, (file, name) => {
    if (NATIVE_BUILD_FILE.test(name)) drop(file);
  });
  if (files > 0) report(`${files} native build files of ${path.relative(app, pkg)}`, bytes);
}

// 3. tsc's incremental state.
const dist = path.join(app, 'dist');
if (fs.existsSync(dist)) {
  walk(dist, (file, name) => {
    if (name.endsWith('.tsbuildinfo')) report(path.relative(app, file), remove(file));
  });
}

console.log(`prune-runtime: ${(removedBytes / 1024 / 1024).toFixed(1)} MiB removed in all`);

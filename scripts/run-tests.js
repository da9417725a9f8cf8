#!/usr/bin/env node
// The whole suite: every spec on SQLite, then the e2e specs again on PostgreSQL
// (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test). Ends with one line
// "tests: N passed, N failed" over both runs. Extra arguments go to jest (e.g. a path filter).
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, existsSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const jest = require.resolve('jest/bin/jest');
const extra = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'gateway-jest-'));
const runs = [
  { name: 'sqlite', env: { TEST_DB: 'sqlite' }, args: [] },
  { name: 'postgres', env: { TEST_DB: 'postgres' }, args: ['--testPathPattern', 'test/'] },
];
if (process.env.TEST_ONLY) runs.splice(0, runs.length, ...runs.filter((r) => r.name === process.env.TEST_ONLY));

let passed = 0;
let failed = 0;
let broken = false;
for (const run of runs) {
  const out = join(dir, `${run.name}.json`);
  console.log(`\n=== jest on ${run.name} ===`);
  const res = spawnSync(process.execPath, [jest, '--json', `--outputFile=${out}`, ...run.args, ...extra], {
    stdio: 'inherit',
    env: { ...process.env, ...run.env },
  });
  if (!existsSync(out)) {
    broken = true;
    console.error(`jest on ${run.name} produced no results (exit ${res.status})`);
    continue;
  }
  const result = JSON.parse(readFileSync(out, 'utf8'));
  passed += result.numPassedTests;
  failed += result.numFailedTests;
  if (result.numFailedTestSuites > 0 || res.status !== 0) broken = true;
  console.log(`${run.name}: ${result.numPassedTests} passed, ${result.numFailedTests} failed, ${result.numTotalTestSuites} suites`);
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(broken || failed > 0 || passed === 0 ? 1 : 0);

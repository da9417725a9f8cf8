/**
 * What the audit trail costs a callback's throughput, at the HTTP level: `npm run bench` run in
 * alternating pairs, the gateway without its audit trail (bench/no-audit-preload.ts) and then as
 * shipped, each pair on a fresh database. One run of `npm run bench` moves by ±15% on a shared
 * 2-core machine, more than the difference sought, so each pair is compared on its own (the two
 * runs of a pair are a minute apart, under the same load) and the figure is the median of the
 * pairs' ratios.
 *
 *   npm run bench:audit                               # SQLite, 4 pairs of scenarios c and e
 *   AUDIT_PAIRS=8 BENCH_DB=postgres npm run bench:audit
 *
 * Settings: AUDIT_PAIRS (4); BENCH_SCENARIOS (c,e) and every other `npm run bench` setting pass through.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const PAIRS = Number(process.env.AUDIT_PAIRS ?? 4);
const SCENARIOS = process.env.BENCH_SCENARIOS || 'c,e';
const BUDGET = 0.1;

interface Figure {
  reqs: number;
  cpuMs: number;
}

/** One `npm run bench`; the req/s and CPU ms per request of each scenario, by its key. */
function runBench(withAudit: boolean): Map<string, Figure> {
  const env = { ...process.env, BENCH_SCENARIOS: SCENARIOS, BENCH_GATEWAY_PRELOAD: withAudit ? '' : 'bench/no-audit-preload.ts' };
  const run = spawnSync('npx', ['ts-node', '-T', 'bench/callbacks.bench.ts'], { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`npm run bench failed (${run.status}): ${run.stderr.slice(-2000)}`);
  const figures = new Map<string, Figure>();
  // A row of its table, cells apart by two spaces or more: "c) users_read, credential cache on   50   1524   31 …   0.697   19".
  for (const line of run.stdout.split('\n')) {
    const key = /^([a-z]\d?)\) /.exec(line)?.[1];
    const cells = line.trim().split(/\s{2,}/);
    if (key && cells.length >= 15 && /^\d+$/.test(cells[2])) figures.set(key, { reqs: Number(cells[2]), cpuMs: Number(cells[cells.length - 2]) });
  }
  return figures;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (ratio: number): string => `${ratio >= 1 ? '+' : ''}${(100 * (ratio - 1)).toFixed(1)}%`;

function main(): void {
  const keys = SCENARIOS.split(',').map((s) => s.trim()).filter(Boolean);
  const pairs: Array<{ load: number; off: Map<string, Figure>; on: Map<string, Figure> }> = [];
  for (let i = 1; i <= PAIRS; i++) {
    const load = loadavg()[0];
    const off = runBench(false);
    const on = runBench(true);
    pairs.push({ load, off, on });
    const line = keys.map((k) => `${k}) ${off.get(k)?.reqs ?? '?'} -> ${on.get(k)?.reqs ?? '?'} req/s`).join(', ');
    console.log(`pair ${i}/${PAIRS} (load ${load.toFixed(2)}): without -> with the audit trail: ${line}`);
  }
  console.log('');
  let over = false;
  for (const k of keys) {
    const usable = pairs.filter((p) => p.off.get(k) && p.on.get(k));
    if (usable.length === 0) {
      console.log(`${k}) not measured`);
      continue;
    }
    const ratios = usable.map((p) => (p.on.get(k) as Figure).reqs / (p.off.get(k) as Figure).reqs);
    const cpu = usable.map((p) => (p.on.get(k) as Figure).cpuMs / (p.off.get(k) as Figure).cpuMs);
    const ratio = median(ratios);
    over ||= ratio < 1 - BUDGET;
    console.log(
      `${k}) throughput with the audit trail, median of ${usable.length} pairs: ${pct(ratio)} ` +
        `(pairs ${ratios.map(pct).join(', ')}); server CPU per request ${pct(median(cpu))}; ` +
        `medians ${median(usable.map((p) => (p.off.get(k) as Figure).reqs))} -> ${median(usable.map((p) => (p.on.get(k) as Figure).reqs))} req/s`,
    );
  }
  console.log(`budget: at most ${100 * BUDGET}% of a callback's throughput -> ${over ? 'OVER' : 'met'} (load average at the end ${loadavg()[0].toFixed(2)})`);
}

main();

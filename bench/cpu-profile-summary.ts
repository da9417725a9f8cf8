/**
 * Summarizes a V8 `.cpuprofile` (main thread only: argon2 and sqlite3 work on libuv's thread
 * pool is not in it): time by where the code lives (self and inclusive) and the hottest
 * functions. `ts-node -T bench/cpu-profile-summary.ts <file.cpuprofile> [top]` prints one.
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const ROOT = resolve(__dirname, '..');

/** Where a frame's code lives: a package, a file of ours, Node itself, or V8's pseudo-frames. */
function categoryOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: (core)';
  const path = url.replace(/^file:\/\//, '');
  const at = path.lastIndexOf('/node_modules/');
  if (at >= 0) {
    const parts = path.slice(at + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  return relative(ROOT, path);
}

function frameName(frame: CallFrame): string {
  return `${frame.functionName || '(anonymous)'} ${categoryOf(frame)}:${frame.lineNumber + 1}`;
}

function top(map: Map<string, number>, count: number, totalUs: number): string[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, us]) => `${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / totalUs).toFixed(1).padStart(5)}%  ${key}`);
}

function add(map: Map<string, number>, key: string, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

/** The summary as printable lines. */
export function summarizeProfile(profile: CpuProfile, count = 15): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfByCategory = new Map<string, number>();
  const inclusiveByCategory = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  const inclusiveOurs = new Map<string, number>();
  let total = 0;
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    total += us;
    const category = categoryOf(node.callFrame);
    add(selfByCategory, category, us);
    add(selfByFunction, frameName(node.callFrame), us);
    if (category !== '(idle)') busy += us;
    const seenCategories = new Set<string>();
    const seenOurs = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame) break;
      seenCategories.add(categoryOf(frame));
      if (frame.url.includes('/src/') && !frame.url.includes('/node_modules/')) seenOurs.add(frameName(frame));
    }
    seenCategories.forEach((c) => add(inclusiveByCategory, c, us));
    seenOurs.forEach((f) => add(inclusiveOurs, f, us));
  });
  return [
    `profile: ${(total / 1e6).toFixed(1)} s sampled, main thread busy ${((100 * busy) / total).toFixed(1)}%`,
    'self time by code location:',
    ...top(selfByCategory, count, total),
    'inclusive time by code location (a sample counts once for every location on its stack):',
    ...top(inclusiveByCategory, count, total),
    'hottest functions (self):',
    ...top(selfByFunction, count, total),
    'our code (inclusive):',
    ...top(inclusiveOurs, count, total),
  ];
}

if (require.main === module) {
  const [file, count] = process.argv.slice(2);
  if (!file) {
    console.error('usage: ts-node -T bench/cpu-profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(summarizeProfile(profile, count ? Number(count) : 15).join('\n'));
}

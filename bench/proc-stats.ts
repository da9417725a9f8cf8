/**
 * Linux /proc readings of a child process for the benchmarks: peak resident set size (VmHWM)
 * and CPU time, polled while the child runs (both are gone once it has exited).
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/<pid>/stat counts CPU time in these (100 on every common Linux build). */
const CLOCK_TICKS = 100;

/** Peak resident set size (VmHWM) of a process so far, in MiB; null when it cannot be read. */
export function peakRssMiB(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system, every thread) of a process so far, in ms; null when it cannot be read. */
export function cpuMs(pid: number): number | null {
  try {
    // Fields after the command name, which may contain spaces: utime is field 14, stime 15.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** The last readings a {@link ProcWatch} took before the process went away. */
export interface ProcReadings {
  /** MiB; VmHWM only grows, so the last reading is the peak up to at most one interval before exit. */
  peakRssMiB: number | null;
  /** ms of CPU up to the last reading. */
  cpuMs: number | null;
  samples: number;
}

/** Polls a process's /proc entries every `intervalMs` until {@link ProcWatch.stop}. */
export class ProcWatch {
  readonly readings: ProcReadings = { peakRssMiB: null, cpuMs: null, samples: 0 };
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 25,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): ProcReadings {
    clearInterval(this.timer);
    return this.readings;
  }

  private sample(): void {
    const rss = peakRssMiB(this.pid);
    const cpu = cpuMs(this.pid);
    if (rss !== null) this.readings.peakRssMiB = rss;
    if (cpu !== null) this.readings.cpuMs = cpu;
    if (rss !== null || cpu !== null) this.readings.samples += 1;
  }
}

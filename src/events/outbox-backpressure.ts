import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { performance } from 'node:perf_hooks';

/** A consumer's report older than this no longer holds writers back (it stopped claiming: shut down, or idle). */
const STALE_MS = 2000;
/**
 * Writers are held back only while this process is busy: the event loop was in use at least this
 * share of the last sampling period. Late work on an idle process is a slow peer's doing (a
 * receiver), which holding writers back would not help.
 */
const BUSY_UTILIZATION = 0.8;
const SAMPLE_MS = 250;

type Utilization = ReturnType<typeof performance.eventLoopUtilization>;

/**
 * Flow control between the writers of outbox events and their consumers (docs/architecture.md,
 * "Backpressure"). A consumer (the delivery worker) reports how late the work it claims is; while
 * one is behind its limit and this process is busy, {@link admit} holds a writer (a write
 * callback) back until a report says it has caught up, for at most the writer's own bound. On a
 * saturated process this trades write throughput for bounded delivery lag, instead of a backlog
 * that grows for as long as the load lasts. Knows no domain: consumers and writers name themselves.
 */
@Injectable()
export class OutboxBackpressure implements OnModuleDestroy {
  /** Per consumer: when it last reported being over its limit (ms). */
  private readonly behind = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private readonly observers = new Set<(waitedMs: number) => void>();
  /** The event loop's utilization, sampled every SAMPLE_MS while the application runs. */
  private readonly sampler: NodeJS.Timeout;
  private last: Utilization = performance.eventLoopUtilization();
  private busy = false;
  private closed = false;

  constructor() {
    this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
    this.sampler.unref();
  }

  /** A consumer's lateness (ms) at its last claim, against its limit (0: no limit): over it, writers may wait. */
  report(consumer: string, latenessMs: number, limitMs: number): void {
    if (this.closed) return;
    if (limitMs > 0 && latenessMs > limitMs) this.behind.set(consumer, Date.now());
    else if (this.behind.delete(consumer)) this.releaseUnlessHolding();
  }

  /** Whether writers are held back now: a consumer is behind (by a report at most STALE_MS old) and this process is busy. */
  isHoldingBack(now = Date.now()): boolean {
    if (!this.busy) return false;
    for (const [consumer, reported] of this.behind) if (now - reported > STALE_MS) this.behind.delete(consumer);
    return this.behind.size > 0;
  }

  /**
   * Waits while writers are held back, for at most `maxWaitMs` (0: never waits), and answers how
   * long it waited. Never refuses: a writer held back for its whole bound goes ahead.
   */
  async admit(maxWaitMs: number): Promise<number> {
    if (maxWaitMs <= 0 || this.closed || !this.isHoldingBack()) return 0;
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const release = (): void => {
        clearTimeout(timer);
        this.waiters.delete(release);
        resolve();
      };
      const timer = setTimeout(release, maxWaitMs);
      this.waiters.add(release);
    });
    const waited = Date.now() - started;
    for (const observe of this.observers) observe(waited);
    return waited;
  }

  /** `observer` is called with the time (ms) every held-back writer waited. Returns an unsubscribe. */
  observeWaits(observer: (waitedMs: number) => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Shutting down: nobody is held back any more (requests still answered meanwhile go at once). */
  onModuleDestroy(): void {
    this.closed = true;
    clearInterval(this.sampler);
    this.behind.clear();
    this.releaseUnlessHolding();
  }

  private sample(): void {
    const current = performance.eventLoopUtilization();
    this.busy = performance.eventLoopUtilization(current, this.last).utilization >= BUSY_UTILIZATION;
    this.last = current;
    this.releaseUnlessHolding();
  }

  /** Writers waiting go once nothing holds them back: no consumer behind, or the process no longer busy. */
  private releaseUnlessHolding(): void {
    if (this.waiters.size === 0 || this.isHoldingBack()) return;
    for (const release of [...this.waiters]) release();
  }
}

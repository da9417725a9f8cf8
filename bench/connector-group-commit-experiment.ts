/**
 * An experiment for the connector bench on PostgreSQL, not a fix: loaded into the CLI child with
 * `BENCH_CLI_PRELOAD=bench/connector-group-commit-experiment.ts`, it makes ConnectorRunner's
 * private `record` take the group-commit path on PostgreSQL too (outcomes that finish together
 * are written in one transaction by `flush`, as on SQLite) instead of one autocommitted UPDATE per
 * outcome, to measure what the per-outcome commits (a WAL flush each) cost.
 *
 * Result (10,000 items, concurrency 8, 2 CPUs): worse, 57 s against 41.5 s without it. `flush`
 * runs one transaction at a time, and on PostgreSQL each is BEGIN, one UPDATE per outcome and
 * COMMIT, all round trips, while the outcomes behind it wait (10.7 s summed queueing). Batching
 * only pays as one multi-row statement per batch (UPDATE … FROM (VALUES …)), with more than one
 * batch in flight.
 *
 * Relies on the runner's private `writes` queue, `flushing` flag and `flush` method as they are
 * when this was written; if those change, the experiment is stale.
 */
import { ConnectorRunner } from '../src/connector/connector-runner.service';

interface RunnerInternals {
  writes: Array<{ item: unknown; outcome: unknown; at: Date; resolve: (applied: boolean) => void; reject: (error: Error) => void }>;
  flushing: boolean;
  flush(): Promise<void>;
}

function record(this: RunnerInternals, item: unknown, outcome: unknown): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    this.writes.push({ item, outcome, at: new Date(), resolve, reject });
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
  });
}

const prototype = ConnectorRunner.prototype as unknown as Record<string, unknown>;
if (typeof prototype.record !== 'function' || typeof prototype.flush !== 'function') {
  throw new Error('connector-group-commit-experiment: ConnectorRunner has no record/flush any more; the experiment is stale');
}
prototype.record = record;

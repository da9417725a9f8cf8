/**
 * An experiment for the connector bench on PostgreSQL, not a fix: loaded into the CLI child with
 * `BENCH_CLI_PRELOAD=bench/connector-analyze-experiment.ts`, it runs `ANALYZE connector_items`
 * before each pass (ConnectorRunner's private `pass`), to measure what planner statistics that
 * match the queue's contents bring to the claim.
 *
 * Why: the bench's items arrive right before the run, in a table last analyzed (if ever) when
 * it was empty. PostgreSQL then estimates a handful of due rows and plans each claim as a bitmap
 * scan of every pending row, a hash join with the mappings and a sort before the LIMIT:
 * O(pending) per claim (about 20 ms at 10,000 pending) instead of an index scan that stops after
 * `limit` rows. BENCH_EXPLAIN_CLAIMS=1 with BENCH_COUNTERS=1 prints the plans.
 */
import type { DataSource } from 'typeorm';
import { ConnectorRunner } from '../src/connector/connector-runner.service';

interface RunnerInternals {
  postgres: boolean;
  dataSource: DataSource;
}

type Pass = (this: RunnerInternals, ...args: unknown[]) => Promise<unknown>;

const prototype = ConnectorRunner.prototype as unknown as Record<string, Pass | undefined>;
const original = prototype.pass;
if (typeof original !== 'function') throw new Error('connector-analyze-experiment: ConnectorRunner has no pass any more; the experiment is stale');
prototype.pass = async function (this: RunnerInternals, ...args: unknown[]): Promise<unknown> {
  if (this.postgres) await this.dataSource.query('ANALYZE connector_items');
  return original.apply(this, args);
};

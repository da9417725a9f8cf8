import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The work core's metrics, labelled by queue; one set per registry (an application instance). */
export class WorkMetrics {
  private static readonly byRegistry = new WeakMap<Registry, WorkMetrics>();

  readonly claimed: Counter<'queue'>;
  readonly ended: Counter<'queue' | 'outcome'>;
  readonly renewals: Counter<'queue'>;
  readonly inflight: Gauge<'queue'>;
  readonly held: Gauge<'queue'>;
  readonly claimSeconds: Histogram<'queue'>;
  readonly writeSeconds: Histogram<'queue'>;

  private constructor(registry: Registry) {
    const registers = [registry];
    this.claimed = new Counter({ name: 'cyberapp_work_claimed_total', help: 'Rows leased by the work core, by queue.', labelNames: ['queue'], registers });
    this.ended = new Counter({
      name: 'cyberapp_work_leases_ended_total',
      help: 'Leases ended, by queue and outcome: done, retry, failed, lost_lease (fenced out), given_back (never started), interrupted (shutdown).',
      labelNames: ['queue', 'outcome'],
      registers,
    });
    this.renewals = new Counter({ name: 'cyberapp_work_lease_renewals_total', help: 'Leases renewed, by queue.', labelNames: ['queue'], registers });
    this.inflight = new Gauge({ name: 'cyberapp_work_inflight', help: 'Attempts running in this process, by queue.', labelNames: ['queue'], registers });
    this.held = new Gauge({ name: 'cyberapp_work_leases_held', help: 'Leases held by this process (ahead, in flight, unrecorded), by queue.', labelNames: ['queue'], registers });
    const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
    this.claimSeconds = new Histogram({ name: 'cyberapp_work_claim_seconds', help: 'Time of a claim, by queue.', labelNames: ['queue'], buckets, registers });
    this.writeSeconds = new Histogram({ name: 'cyberapp_work_outcome_write_seconds', help: 'Time to write a batch of outcomes, by queue.', labelNames: ['queue'], buckets, registers });
  }

  static for(registry: Registry): WorkMetrics {
    let metrics = WorkMetrics.byRegistry.get(registry);
    if (!metrics) WorkMetrics.byRegistry.set(registry, (metrics = new WorkMetrics(registry)));
    return metrics;
  }
}

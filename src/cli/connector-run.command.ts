import { Inject } from '@nestjs/common';
import { CommandRunner, Help, Option, SubCommand } from 'nest-commander';
import { connectorConfig, type ConnectorConfig } from '../config/connector.config';
import { ConnectorRunStatus } from '../connector/connector-run.entity';
import { CONNECTOR_LEASE, ConnectorRunner, ConnectorRunProgress } from '../connector/connector-runner.service';
import { LeaseService } from '../database/lease.service';

interface RunOptions {
  wait?: number;
}

const HELP = `
Runs one connector pass now, as the schedule would: under the database lease, it sends every
due alert and workload to the Acronis tenant of its organization, retrying what the API asks to
retry within the pass, and records the run. Migrations are applied first.

Exits 0 when the run completed (items that failed are counted in its figures, not an error),
1 when it failed, when the connector is disabled (no ACRONIS_CLIENT_ID/ACRONIS_CLIENT_SECRET/
ACRONIS_DC_URL) or when another runner holds the lease (--wait waits for it that many seconds).
`;

const POLL_MS = 500;
const PROGRESS_EVERY_MS = 1000;

/** `connector run`: one pass on demand (`npm run connector:run`). */
@SubCommand({ name: 'run', description: 'Run one connector pass now (send due alerts and workloads)' })
export class ConnectorRunCommand extends CommandRunner {
  constructor(
    private readonly runner: ConnectorRunner,
    private readonly leases: LeaseService,
    @Inject(connectorConfig.KEY) private readonly config: ConnectorConfig,
  ) {
    super();
  }

  async run(_params: string[], options: RunOptions = {}): Promise<void> {
    if (!this.runner.enabled) {
      throw new Error('connector disabled: ACRONIS_CLIENT_ID/ACRONIS_CLIENT_SECRET/ACRONIS_DC_URL missing');
    }
    const waitUntil = Date.now() + (options.wait ?? 0) * 1000;
    // Which Acronis account this pass works for (the secret never printed), as the service may have another.
    const account = this.config.credentials ? `${this.config.credentials.dcUrl} as client ${this.config.credentials.clientId}` : 'no account';
    process.stdout.write(`connector run: ${account}; as ${this.runner.holder}, concurrency ${this.runner.concurrency}\n`);
    let reported = 0;
    let lastWait = '';
    const onProgress = ({ sent, failed, retrying }: ConnectorRunProgress): void => {
      if (Date.now() - reported < PROGRESS_EVERY_MS) return;
      reported = Date.now();
      process.stdout.write(`progress: ${sent} sent, ${failed} failed, ${retrying} waiting to retry\n`);
    };
    for (;;) {
      const run = await this.runner.runOnce('cli', { onProgress });
      if (run) {
        process.stdout.write(
          `connector run ${run.id} ${run.status}: ${run.sent} sent, ${run.failed} failed, ${run.skipped} skipped` +
            ` in ${((run.finishedAt ?? new Date()).getTime() - run.startedAt.getTime()) / 1000} s\n`,
        );
        if (run.status !== ConnectorRunStatus.Completed) throw new Error(`connector run failed: ${run.error ?? 'unknown error'}`);
        return;
      }
      const lease = await this.leases.current(CONNECTOR_LEASE);
      const held = lease ? `${lease.holder} holds the connector lease until ${lease.expiresAt.toISOString()}` : 'the connector lease was taken';
      if (Date.now() >= waitUntil) throw new Error(`${held}; not run`);
      if (held !== lastWait) process.stdout.write(`waiting: ${held}\n`);
      lastWait = held;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  @Option({ flags: '-w, --wait <seconds>', description: 'wait up to this long for another runner to release the lease' })
  parseWait(value: string): number {
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds < 0) throw new Error('--wait takes a number of seconds');
    return seconds;
  }

  @Help('after')
  help(): string {
    return HELP;
  }
}

import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { connectorConfig, ConnectorConfig } from '../config/connector.config';
import { ConnectorRunner } from './connector-runner.service';

const INTERVAL = 'connector';
const FIRST_RUN = 'connector-first-run';
/** The sample runs at once on start; we wait this long so that the service is up and listening first. */
export const FIRST_RUN_DELAY_MS = 5000;

/**
 * The connector's schedule (docs/architecture.md, flow 4): a pass every CONNECTOR_INTERVAL_MINUTES, and one shortly
 * after start, registered with the SchedulerRegistry from config. No schedule when the interval
 * is 0 or the credentials are missing. Every replica schedules; the lease decides who runs.
 *
 * The SchedulerRegistry exists where ScheduleModule is imported (the service); the CLI has none,
 * so the job stays idle there and `connector run` is the only way a pass starts.
 */
@Injectable()
export class ConnectorJob implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ConnectorJob.name);

  constructor(
    private readonly runner: ConnectorRunner,
    @Inject(connectorConfig.KEY) private readonly config: ConnectorConfig,
    @Optional() private readonly scheduler?: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.scheduler) return;
    if (!this.runner.enabled) {
      this.logger.warn('connector disabled: ACRONIS_CLIENT_ID/ACRONIS_CLIENT_SECRET/ACRONIS_DC_URL missing');
      return;
    }
    if (this.config.intervalMs === 0) {
      this.logger.log('connector schedule off (CONNECTOR_INTERVAL_MINUTES=0): runs on demand only');
      return;
    }
    this.scheduler.addInterval(INTERVAL, setInterval(() => void this.tick(), this.config.intervalMs));
    this.scheduler.addTimeout(FIRST_RUN, setTimeout(() => void this.tick(), FIRST_RUN_DELAY_MS));
    this.logger.log(`connector scheduled every ${this.config.intervalMs / 60_000} min, first run in ${FIRST_RUN_DELAY_MS / 1000} s`);
  }

  beforeApplicationShutdown(): void {
    if (!this.scheduler) return;
    if (this.scheduler.doesExist('interval', INTERVAL)) this.scheduler.deleteInterval(INTERVAL);
    if (this.scheduler.doesExist('timeout', FIRST_RUN)) this.scheduler.deleteTimeout(FIRST_RUN);
  }

  /** A run unless this process is still in the previous one; runOnce never rejects and logs its own failures. */
  async tick(): Promise<void> {
    if (this.runner.running) {
      this.logger.log('connector run still in progress: this tick is skipped');
      return;
    }
    await this.runner.runOnce('schedule');
  }
}

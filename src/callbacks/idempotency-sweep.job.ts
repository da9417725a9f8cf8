import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { CallbackService } from './callback.service';

/** Hourly: drops stored callback responses older than the idempotency window. */
@Injectable()
export class IdempotencySweepJob {
  private readonly logger = new Logger(IdempotencySweepJob.name);

  constructor(private readonly callbacks: CallbackService) {}

  @Interval(60 * 60 * 1000)
  async run(): Promise<void> {
    try {
      const removed = await this.callbacks.sweep();
      if (removed) this.logger.log(`Forgot ${removed} stored callback responses`);
    } catch (error) {
      this.logger.error({ err: error }, 'Idempotency sweep failed');
    }
  }
}

import type { EntityManager } from 'typeorm';
import type { TransactionRunner } from './transaction-runner.service';

interface Item {
  work: (em: EntityManager) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for small independent writes (the action channel's acks, results and claims; S3
 * intake's inbox records): the writes queued while a transaction runs go together in the next one,
 * so a busy writer pays one commit (one fsync on SQLite) per batch instead of per write, and an
 * idle one waits for nothing. Each write resolves
 * only once its transaction has committed. If a batch fails, its writes run again one by one, so
 * one bad write cannot fail the others.
 */
export class GroupCommit {
  private readonly queue: Item[] = [];
  private draining = false;

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly maxBatch = 256,
  ) {}

  run<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const results = await this.transactions.run(async (em) => {
            const out: unknown[] = [];
            for (const item of batch) out.push(await item.work(em));
            return out;
          });
          batch.forEach((item, i) => item.resolve(results[i]));
        } catch {
          for (const item of batch) await this.transactions.run(item.work).then(item.resolve, item.reject);
        }
      }
    } finally {
      this.draining = false;
    }
  }
}

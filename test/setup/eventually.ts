import { TransactionRunner } from '../../src/database/transaction-runner.service';
import { OutboxService } from '../../src/events/outbox.service';
import type { TestApp } from './create-test-app';

/** Reads until `done` holds (every 25 ms), or fails with the last value read after `timeoutMs`. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Records a domain event as the services do (the outbox); the dispatcher fans it out to the subscriptions. Its id. */
export async function emit(t: TestApp, type: string, organizationId: string | null, data: Record<string, unknown> = {}): Promise<string> {
  const event = await t.app.get(TransactionRunner).run((em) => t.app.get(OutboxService).record(em, { type, organizationId, data }));
  return event.id;
}

/**
 * What writing an event's organization ids costs the outbox: `OutboxService.record` in its own
 * transaction, with the organization tree's answer (one walk up the tree) and, in the same run,
 * with a stand-in that asks nothing. Rounds alternate, the median round is printed in µs per event.
 * TEST_DB=postgres for PostgreSQL. EVENTS per round (default 1,000), 5 rounds each.
 */
import { TransactionRunner } from '../src/database/transaction-runner.service';
import { OutboxService } from '../src/events/outbox.service';
import { ancestryOf } from '../src/organizations/organization-tree';
import { createTree } from '../test/factories/organizations';
import { createTestApp } from '../test/setup/create-test-app';

const EVENTS = Number(process.env.EVENTS ?? 1_000);

void (async () => {
  const t = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false' });
  try {
    const tree = await createTree(t.dataSource);
    const outbox = t.app.get(OutboxService);
    const transactions = t.app.get(TransactionRunner);
    const round = async (): Promise<number> => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < EVENTS; i++) await transactions.run((em) => outbox.record(em, { type: 'user.created', organizationId: tree.subCustomer.id, data: { i } }));
      return Number(process.hrtime.bigint() - start) / 1000 / EVENTS;
    };
    const withTree: number[] = [];
    const without: number[] = [];
    for (let r = 0; r < 5; r++) {
      outbox.useOrganizations(ancestryOf);
      withTree.push(await round());
      outbox.useOrganizations((_em, id) => Promise.resolve([id]));
      without.push(await round());
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[2];
    console.log(`${t.dataSource.options.type}: record() ${median(withTree).toFixed(0)} µs/event with the ancestry walk, ${median(without).toFixed(0)} µs/event without (median of 5 rounds of ${EVENTS})`);
  } finally {
    await t.close();
  }
})();

import request from 'supertest';
import { DeliveryState } from '../../src/webhooks/webhook-delivery.entity';
import { createTree, createUser, Tree } from '../factories/organizations';
import { createDeliveries, createDelivery, createSubscription } from '../factories/webhooks';
import { TEST_DB } from '../setup/test-database';
import { ConsoleApp, httpSignIn, startConsoleApp } from './console-app';

/** The overview's figures: queue depths and the last hour, capped, confined to the caller's subtree. */
describe(`console overview on ${TEST_DB}`, () => {
  let t: ConsoleApp;
  let tree: Tree;

  /** The numbers of one queue row as the page shows them: "label: count" in the order shown. */
  function figures(html: string, queue: string): string[] {
    const row = new RegExp(`<th scope="row">(?:<a [^>]*>)?${queue}(?:</a>)?</th>([\\s\\S]*?)</tr>`).exec(html);
    if (!row) throw new Error(`no row ${queue}`);
    return [...row[1].matchAll(/<strong>([^<]*)<\/strong> ([^<]*)<\/li>/g)].map((m) => `${m[2]}: ${m[1]}`);
  }

  beforeAll(async () => {
    t = await startConsoleApp({ CONSOLE_OVERVIEW_COUNT_CAP: '10', WEBHOOKS_WORKER_ENABLED: 'false' });
    tree = await createTree(t.dataSource);
    const now = Date.now();
    const mine = await createSubscription(t.dataSource, { organizationId: tree.partner.id });
    const customers = await createSubscription(t.dataSource, { organizationId: tree.customers[0].id });
    const stranger = await createSubscription(t.dataSource, { organizationId: tree.other.id });
    // Partner: 12 pending (over the cap of 10), 3 failed of which 1 replayed, 4 succeeded two hours ago.
    await createDeliveries(t.dataSource, mine.id, 12, new Date(now - 60_000), () => ({ state: DeliveryState.Pending }));
    const failed = await createDeliveries(t.dataSource, mine.id, 3, new Date(now - 120_000), () => ({ state: DeliveryState.Failed }));
    await createDelivery(t.dataSource, { subscriptionId: mine.id, eventId: failed[0].eventId, redeliveryOf: failed[0].id, state: DeliveryState.Succeeded, createdAt: new Date(now - 30_000) });
    await createDeliveries(t.dataSource, mine.id, 4, new Date(now - 2 * 3_600_000), () => ({ state: DeliveryState.Succeeded }));
    // The customer's own: 2 failed, 1 being sent.
    await createDeliveries(t.dataSource, customers.id, 2, new Date(now - 90_000), () => ({ state: DeliveryState.Failed }));
    await createDelivery(t.dataSource, { subscriptionId: customers.id, state: DeliveryState.Delivering, createdAt: new Date(now - 10_000) });
    // A stranger's: never counted for the partner or the customer.
    await createDeliveries(t.dataSource, stranger.id, 7, new Date(now - 60_000), () => ({ state: DeliveryState.Failed }));
    await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'customer', password: 'customer-password' });
  });

  afterAll(async () => {
    await t.close();
  });

  it('shows the depths and the last hour of the caller subtree, each count stopped at the cap', async () => {
    const session = await httpSignIn(t, 'partner', tree.password);
    const page = await request(t.server).get('/console').set('cookie', session.cookie).expect(200);
    expect(figures(page.text, 'Webhook deliveries')).toEqual([
      'pending: 10+',
      'being sent: 1',
      'failed, not replayed: 4',
      // created in the last hour: 12 + 3 + 1 + 2 + 1 = 19 (the 4 of two hours ago are not)
      'created: 10+',
      'succeeded: 1',
      'failed: 5',
    ]);
    expect(page.text).toContain('Counts stop at 10 (shown as "10+")');
  });

  it('confines a customer user to its own organization', async () => {
    const session = await httpSignIn(t, 'customer', 'customer-password');
    const page = await request(t.server).get('/console').set('cookie', session.cookie).expect(200);
    expect(figures(page.text, 'Webhook deliveries')).toEqual(['pending: 0', 'being sent: 1', 'failed, not replayed: 2', 'created: 3', 'succeeded: 0', 'failed: 2']);
  });

  it('shows the stranger nothing of the partner tree', async () => {
    const session = await httpSignIn(t, 'other', 'other-password');
    const page = await request(t.server).get('/console').set('cookie', session.cookie).expect(200);
    expect(figures(page.text, 'Webhook deliveries')).toEqual(['pending: 0', 'being sent: 0', 'failed, not replayed: 7', 'created: 7', 'succeeded: 0', 'failed: 7']);
  });
});

import { SchedulerRegistry } from '@nestjs/schedule';
import { LeaseService } from '../../src/database/lease.service';
import { WebhookDeliveryAttempt } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { RETENTION_LEASE, WebhookRetentionJob } from '../../src/webhooks/webhook-retention.job';
import { createTree, Tree } from '../factories/organizations';
import { createAttempt, createDeliveries, createSubscription } from '../factories/webhooks';
import { createTestApp, TestApp } from '../setup/create-test-app';

const KEEP = 3;
const BASE = new Date('2024-05-01T10:00:00.000Z');
const { Succeeded, Failed, Pending, Delivering } = DeliveryState;

describe('webhook delivery retention', () => {
  let t: TestApp;
  let tree: Tree;
  let job: WebhookRetentionJob;

  beforeAll(async () => {
    t = await createTestApp({
      WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1,localhost',
      WEBHOOKS_WORKER_ENABLED: 'false',
      WEBHOOKS_RETENTION_PER_SUBSCRIPTION: String(KEEP),
    });
    tree = await createTree(t.dataSource);
    job = t.app.get(WebhookRetentionJob);
  });
  afterAll(() => t.close());

  const remaining = async (subscriptionId: string): Promise<string[]> =>
    (await t.dataSource.getRepository(WebhookDelivery).find({ where: { subscriptionId }, order: { createdAt: 'DESC' } })).map((d) => d.id);
  const newSubscription = () => createSubscription(t.dataSource, { organizationId: tree.partner.id });

  beforeEach(async () => {
    await t.dataSource.getRepository(WebhookDelivery).createQueryBuilder().delete().execute();
  });

  it('keeps the newest N deliveries of each subscription, counted per subscription, and deletes older finished ones', async () => {
    const a = await newSubscription();
    const b = await newSubscription();
    // a: 6 deliveries, newest last; b: 5, interleaved in time with a's so that a global count would cut differently.
    const aRows = await createDeliveries(t.dataSource, a.id, 6, BASE, (i) => ({ state: i % 2 === 0 ? Succeeded : Failed }));
    const bRows = await createDeliveries(t.dataSource, b.id, 5, new Date(BASE.getTime() + 500));
    const deleted = await job.sweep();
    expect(deleted).toBe(3 + 2);
    expect(await remaining(a.id)).toEqual([aRows[5].id, aRows[4].id, aRows[3].id]);
    expect(await remaining(b.id)).toEqual([bRows[4].id, bRows[3].id, bRows[2].id]);
  });

  it('never deletes pending or in-flight deliveries, however old, and still counts them among the newest', async () => {
    const s = await newSubscription();
    const states = [Pending, Delivering, Succeeded, Failed, Succeeded, Pending, Succeeded];
    const rows = await createDeliveries(t.dataSource, s.id, states.length, BASE, (i) => ({ state: states[i] }));
    expect(await job.sweep()).toBe(2);
    // Newest three (6, 5, 4) are kept; of the older ones the finished (3, 2) go, pending (0) and delivering (1) stay.
    expect(await remaining(s.id)).toEqual([rows[6].id, rows[5].id, rows[4].id, rows[1].id, rows[0].id]);
  });

  it('deletes the attempts of the deliveries it deletes', async () => {
    const s = await newSubscription();
    const rows = await createDeliveries(t.dataSource, s.id, KEEP + 1, BASE);
    await createAttempt(t.dataSource, { deliveryId: rows[0].id });
    await createAttempt(t.dataSource, { deliveryId: rows[0].id, attempt: 2 });
    await createAttempt(t.dataSource, { deliveryId: rows[1].id });
    expect(await job.sweep()).toBe(1);
    const attempts = t.dataSource.getRepository(WebhookDeliveryAttempt);
    expect(await attempts.countBy({ deliveryId: rows[0].id })).toBe(0);
    expect(await attempts.countBy({ deliveryId: rows[1].id })).toBe(1);
  });

  it('leaves subscriptions with N or fewer deliveries alone, and a second sweep finds nothing', async () => {
    const s = await newSubscription();
    const rows = await createDeliveries(t.dataSource, s.id, KEEP, BASE);
    expect(await job.sweep()).toBe(0);
    expect((await remaining(s.id)).sort()).toEqual(rows.map((r) => r.id).sort());
    const crowded = await newSubscription();
    await createDeliveries(t.dataSource, crowded.id, KEEP + 2, BASE);
    expect(await job.sweep()).toBe(2);
    expect(await job.sweep()).toBe(0);
  });

  it('sweeps nothing while another replica holds the lease, and releases the lease after a sweep', async () => {
    const s = await newSubscription();
    await createDeliveries(t.dataSource, s.id, KEEP + 2, BASE);
    const leases = t.app.get(LeaseService);
    expect(await leases.acquire(RETENTION_LEASE, 'another-replica', 60_000)).toBe(true);
    expect(await job.sweep()).toBe(0);
    expect(await remaining(s.id)).toHaveLength(KEEP + 2);
    await leases.release(RETENTION_LEASE, 'another-replica');
    expect(await job.sweep()).toBe(2);
    expect(await leases.current(RETENTION_LEASE)).toBeNull();
  });

  it('joins a sweep already running in this process instead of starting a second one', async () => {
    const s = await newSubscription();
    await createDeliveries(t.dataSource, s.id, KEEP + 4, BASE);
    const [first, second] = await Promise.all([job.sweep(), job.sweep()]);
    expect(first).toBe(4);
    expect(second).toBe(4);
    expect(await remaining(s.id)).toHaveLength(KEEP);
  });

  it('is scheduled every WEBHOOKS_RETENTION_INTERVAL_MINUTES, and not at all with 0', async () => {
    expect(t.app.get(SchedulerRegistry).doesExist('interval', 'webhooks-retention')).toBe(true);
    const off = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false', WEBHOOKS_RETENTION_INTERVAL_MINUTES: '0' });
    try {
      expect(off.app.get(SchedulerRegistry).doesExist('interval', 'webhooks-retention')).toBe(false);
    } finally {
      await off.close();
    }
  });
});

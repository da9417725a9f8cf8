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

const DAY = 24 * 60 * 60_000;
/** The sweep's clock: 30 days (the default age) plus a day after BASE. */
const LATER = new Date(BASE.getTime() + 31 * DAY);

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

  describe('by age (WEBHOOKS_RETENTION_DAYS, default 30)', () => {
    it('deletes finished deliveries older than the age, failed ones included, and keeps the younger ones', async () => {
      const s = await newSubscription();
      const old = await createDeliveries(t.dataSource, s.id, 4, BASE, (i) => ({ state: i % 2 === 0 ? Succeeded : Failed }));
      const young = await createDeliveries(t.dataSource, s.id, 2, new Date(LATER.getTime() - 2 * DAY), () => ({ state: Failed }));
      // A day short of the age: nothing goes.
      expect(await job.sweep(new Date(BASE.getTime() + 29 * DAY))).toBe(0);
      expect(await job.sweep(LATER)).toBe(old.length);
      expect((await remaining(s.id)).sort()).toEqual(young.map((d) => d.id).sort());
    });

    it('never deletes pending or in-flight deliveries, however old', async () => {
      const s = await newSubscription();
      const rows = await createDeliveries(t.dataSource, s.id, 4, BASE, (i) => ({ state: [Pending, Delivering, Succeeded, Failed][i] }));
      expect(await job.sweep(new Date(BASE.getTime() + 3650 * DAY))).toBe(2);
      expect((await remaining(s.id)).sort()).toEqual([rows[0].id, rows[1].id].sort());
    });

    it('deletes the attempts of the deliveries it deletes', async () => {
      const s = await newSubscription();
      const rows = await createDeliveries(t.dataSource, s.id, 2, BASE);
      await t.dataSource.getRepository(WebhookDelivery).update({ id: rows[1].id }, { createdAt: LATER });
      await createAttempt(t.dataSource, { deliveryId: rows[0].id });
      await createAttempt(t.dataSource, { deliveryId: rows[0].id, attempt: 2 });
      await createAttempt(t.dataSource, { deliveryId: rows[1].id });
      expect(await job.sweep(LATER)).toBe(1);
      const attempts = t.dataSource.getRepository(WebhookDeliveryAttempt);
      expect(await attempts.countBy({ deliveryId: rows[0].id })).toBe(0);
      expect(await attempts.countBy({ deliveryId: rows[1].id })).toBe(1);
    });
  });

  describe('count cap (WEBHOOKS_RETENTION_PER_SUBSCRIPTION, optional)', () => {
    it("keeps the newest N succeeded deliveries of each subscription, counted per subscription, and never sweeps a young dead letter", async () => {
      const a = await newSubscription();
      const b = await newSubscription();
      // a: 6 deliveries, newest last, alternating succeeded and failed; b: 5 succeeded, interleaved in time with a's.
      const aRows = await createDeliveries(t.dataSource, a.id, 6, BASE, (i) => ({ state: i % 2 === 0 ? Succeeded : Failed }));
      const bRows = await createDeliveries(t.dataSource, b.id, 5, new Date(BASE.getTime() + 500));
      // Well within the age: only the cap applies. a has 3 succeeded (kept: N = 3) and 3 failed (kept: dead letters).
      const deleted = await job.sweep(new Date(BASE.getTime() + DAY));
      expect(deleted).toBe(2);
      expect((await remaining(a.id)).sort()).toEqual(aRows.map((d) => d.id).sort());
      expect(await remaining(b.id)).toEqual([bRows[4].id, bRows[3].id, bRows[2].id]);
    });

    it('never deletes pending or in-flight deliveries, and does not count them', async () => {
      const s = await newSubscription();
      const states = [Pending, Delivering, Succeeded, Failed, Succeeded, Pending, Succeeded, Succeeded];
      const rows = await createDeliveries(t.dataSource, s.id, states.length, BASE, (i) => ({ state: states[i] }));
      expect(await job.sweep(new Date(BASE.getTime() + DAY))).toBe(1);
      // Succeeded: 2, 4, 6, 7; the newest three (7, 6, 4) stay, 2 goes; pending, delivering and failed stay.
      expect((await remaining(s.id)).sort()).toEqual([rows[7], rows[6], rows[5], rows[4], rows[3], rows[1], rows[0]].map((d) => d.id).sort());
    });

    it('leaves subscriptions with N or fewer succeeded deliveries alone, and a second sweep finds nothing', async () => {
      const s = await newSubscription();
      const rows = await createDeliveries(t.dataSource, s.id, KEEP, BASE);
      expect(await job.sweep(new Date(BASE.getTime() + DAY))).toBe(0);
      expect((await remaining(s.id)).sort()).toEqual(rows.map((r) => r.id).sort());
      const crowded = await newSubscription();
      await createDeliveries(t.dataSource, crowded.id, KEEP + 2, BASE);
      expect(await job.sweep(new Date(BASE.getTime() + DAY))).toBe(2);
      expect(await job.sweep(new Date(BASE.getTime() + DAY))).toBe(0);
    });
  });

  it('sweeps nothing while another replica holds the lease, and releases the lease after a sweep', async () => {
    const s = await newSubscription();
    await createDeliveries(t.dataSource, s.id, KEEP + 2, BASE);
    const leases = t.app.get(LeaseService);
    expect(await leases.acquire(RETENTION_LEASE, 'another-replica', 60_000)).toBe(true);
    expect(await job.sweep(LATER)).toBe(0);
    expect(await remaining(s.id)).toHaveLength(KEEP + 2);
    await leases.release(RETENTION_LEASE, 'another-replica');
    expect(await job.sweep(LATER)).toBe(KEEP + 2);
    expect(await leases.current(RETENTION_LEASE)).toBeNull();
  });

  it('joins a sweep already running in this process instead of starting a second one', async () => {
    const s = await newSubscription();
    await createDeliveries(t.dataSource, s.id, KEEP + 4, BASE);
    const at = new Date(BASE.getTime() + DAY);
    const [first, second] = await Promise.all([job.sweep(at), job.sweep(at)]);
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

  it('by default keeps by age only: a failed delivery stays until it is 30 days old', async () => {
    const plain = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false', WEBHOOKS_RETENTION_INTERVAL_MINUTES: '0' });
    try {
      const ptree = await createTree(plain.dataSource);
      const s = await createSubscription(plain.dataSource, { organizationId: ptree.partner.id });
      const rows = await createDeliveries(plain.dataSource, s.id, 15, BASE, () => ({ state: Failed }));
      const sweeper = plain.app.get(WebhookRetentionJob);
      expect(await sweeper.sweep(new Date(BASE.getTime() + 29 * DAY))).toBe(0);
      expect(await plain.dataSource.getRepository(WebhookDelivery).countBy({ subscriptionId: s.id })).toBe(rows.length);
      expect(await sweeper.sweep(new Date(BASE.getTime() + 31 * DAY))).toBe(rows.length);
    } finally {
      await plain.close();
    }
  });
});

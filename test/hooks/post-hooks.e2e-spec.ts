import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { approve, HookServer, reject, startHookServer } from '../fakes/hook-server';
import { clearHooks } from '../factories/hooks';
import { createTree, mapOrganization, Tree } from '../factories/organizations';
import { callback, Credentials } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';
import { TEST_DB } from '../setup/test-database';

type Json = Record<string, unknown>;

describe('approval post-hooks (durable, through the webhook delivery core)', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;
  let tenant: string;
  let hook: HookServer;
  const secret = 'whsec_' + Buffer.alloc(32, 9).toString('base64');

  beforeAll(async () => {
    t = await createTestApp({
      WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8',
      WEBHOOKS_POLL_MS: '100',
      WEBHOOKS_BACKOFF_BASE_MS: '50',
      WEBHOOKS_BACKOFF_MAX_MS: '200',
      WEBHOOKS_MAX_ATTEMPTS: '3',
    });
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
    tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
    hook = await startHookServer({ secret });
  });
  afterEach(async () => {
    await clearHooks(t.dataSource);
    hook.received.length = 0;
    hook.answer(approve());
  });
  afterAll(async () => {
    await hook.close();
    await t.close();
  });

  const auth = () => cyberAppAuth('partner', tree.password);
  const register = async (body: Json = {}): Promise<string> => {
    const res = await request(t.server)
      .post('/api/hooks')
      .set('X-CyberApp-Auth', auth())
      .send({ url: hook.url, ssl_verification: false, secret, operations: ['user.create'], ...body })
      .expect(201);
    return res.body.id as string;
  };
  const createUser = (login: string) => callback(t, partner, 'user_write', { login, name: login, email: `${login}@example.com` }, { tenantId: tenant });
  const bodyOf = (d: { body: Buffer }): Json => JSON.parse(d.body.toString('utf8')) as Json;
  /** Waits until the dispatcher has fanned out the post-hook event of the user created with `login`. */
  const dispatched = async (login: string): Promise<void> => {
    const deadline = Date.now() + 5000;
    const pending = () =>
      t.dataSource.query<unknown[]>(`SELECT id FROM events WHERE type = 'post.user.create' AND data LIKE '%"${login}"%' AND dispatched_at IS NULL`);
    while ((await pending()).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await pending()).toEqual([]);
  };

  it('delivers a signed post-hook carrying the work_id of the pre-hook, the outcome and the result', async () => {
    await register();
    hook.answer(approve('work-42'));
    await createUser('ada').expect(200);
    const [post] = await hook.waitForPosts(1);
    const user = await t.dataSource.query(`SELECT id FROM users WHERE login = 'ada'`);
    expect(post.headers['x-cs-event']).toBe('post.user.create');
    expect(bodyOf(post)).toEqual({
      id: post.headers['webhook-id'],
      operation: 'user.create',
      organization_id: tree.customers[0].id,
      auth_id: 'partner',
      input: { login: 'ada', name: 'ada', email: 'ada@example.com' },
      work_id: 'work-42',
      outcome: 'succeeded',
      result: { user_id: user[0].id, login: 'ada' },
      created_at: expect.any(String),
    });
    // Verified here with the standardwebhooks package directly, besides the receiver's own check.
    const headers = Object.fromEntries(Object.entries(post.headers).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
    expect(() => new Webhook(secret).verify(post.body, headers)).not.toThrow();
    expect(post.verified).toEqual({ cs: true, standard: true });
    // Only the pre-hook and the post-hook: the user.created event is not fanned out to a hook endpoint.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(hook.received.map((d) => d.headers['x-cs-event'])).toEqual(['pre.user.create', 'post.user.create']);
  });

  it('records the post-hook in the operation\'s transaction (an outbox event, there as soon as the callback answered), fanned out to one delivery', async () => {
    const id = await register({ phase: 'post' });
    await createUser('bea').expect(200);
    const events = await t.dataSource.query<Array<{ id: string }>>(`SELECT id FROM events WHERE type = 'post.user.create' AND data LIKE '%"bea"%'`);
    expect(events).toHaveLength(1);
    // The dispatcher writes the delivery (the one writer of deliveries), woken by the commit.
    const deadline = Date.now() + 5000;
    while ((await t.dataSource.getRepository(WebhookDelivery).countBy({ subscriptionId: id })) === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const rows = await t.dataSource.getRepository(WebhookDelivery).findBy({ subscriptionId: id });
    expect(rows[0]?.eventId).toBe(events[0].id);
    expect(rows).toHaveLength(1);
    expect(rows[0].eventType).toBe('post.user.create');
    const [post] = await hook.waitForPosts(1);
    // A post-only hook is not asked before: no work_id.
    expect(hook.pres).toHaveLength(0);
    expect(bodyOf(post)).toMatchObject({ work_id: null, outcome: 'succeeded' });
  });

  it('retries a post-hook the receiver first refuses, with the same webhook-id, and logs every attempt', async () => {
    const id = await register({ phase: 'post' });
    hook.answer(approve(), (_d, i) => (i === 0 ? { status: 503 } : { status: 200, body: '{}' }));
    await createUser('cid').expect(200);
    const posts = await hook.waitForPosts(2);
    expect(posts[1].headers['webhook-id']).toBe(posts[0].headers['webhook-id']);
    expect(posts[1].body.equals(posts[0].body)).toBe(true);
    let list: request.Response;
    const deadline = Date.now() + 5000;
    do {
      list = await request(t.server).get(`/api/hooks/${id}/deliveries`).set('X-CyberApp-Auth', auth()).expect(200);
    } while (list.body.items[0]?.state !== 'succeeded' && Date.now() < deadline);
    expect(list.body.total).toBe(1);
    expect(list.body.items[0]).toMatchObject({ state: 'succeeded', attempt_count: 2, event_type: 'post.user.create' });
    expect(list.body.items[0].attempts.map((a: Json) => a.status_code)).toEqual([503, 200]);
  });

  it('delivers a post-hook with outcome "failed" when the operation fails after approval', async () => {
    await register();
    await createUser('dup').expect(200);
    await hook.waitForPosts(1);
    const res = await createUser('dup').expect(409);
    expect(res.body.code).toBe('CONFLICT');
    const posts = await hook.waitForPosts(2);
    expect(bodyOf(posts[1])).toMatchObject({ outcome: 'failed', result: { code: 'CONFLICT', message: 'A user with this login already exists.' }, input: { login: 'dup' } });
  });

  it('completes an operation whose post-hook endpoint was deleted after its approval, sending it nothing', async () => {
    const id = await register();
    // The hook is deleted while it takes its time to approve: approved, but gone before the operation's transaction.
    hook.answer({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"approved":true,"work_id":"w-gone"}', delayMs: 500 });
    const answer = createUser('gone').then((res) => res);
    const deadline = Date.now() + 5000;
    while (hook.pres.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await request(t.server).delete(`/api/hooks/${id}`).set('X-CyberApp-Auth', auth()).expect(204);
    expect((await answer).status).toBe(200);
    expect(hook.pres).toHaveLength(1);
    expect(await t.dataSource.query(`SELECT id FROM users WHERE login = 'gone'`)).toHaveLength(1);
    await dispatched('gone');
    expect(await t.dataSource.getRepository(WebhookDelivery).countBy({ subscriptionId: id })).toBe(0);
  });

  (TEST_DB === 'postgres' ? it : it.skip)(
    'completes an operation whose post-hook endpoint is deleted by a transaction committing during its own (PostgreSQL)',
    async () => {
      const id = await register({ phase: 'post' });
      const deleting = t.dataSource.createQueryRunner();
      await deleting.connect();
      try {
        await deleting.startTransaction();
        await deleting.query('DELETE FROM webhook_subscriptions WHERE id = $1', [id]);
        // The post-hook's fan-out reads the endpoint as present (the deletion is not committed), then meets its row lock.
        const answer = createUser('race').then((res) => res);
        const deadline = Date.now() + 10_000;
        let waiting = 0;
        do {
          await new Promise((resolve) => setTimeout(resolve, 20));
          const [row] = await t.dataSource.query<Array<{ n: string }>>(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%webhook_%'`,
          );
          waiting = Number(row.n);
        } while (waiting === 0 && Date.now() < deadline);
        expect(waiting).toBeGreaterThan(0);
        await deleting.commitTransaction();
        const res = await answer;
        expect({ status: res.status, body: res.status === 200 ? {} : res.body }).toEqual({ status: 200, body: {} });
      } finally {
        if (deleting.isTransactionActive) await deleting.rollbackTransaction();
        await deleting.release();
      }
      expect(await t.dataSource.query(`SELECT id FROM users WHERE login = 'race'`)).toHaveLength(1);
      await dispatched('race');
      expect(await t.dataSource.getRepository(WebhookDelivery).countBy({ subscriptionId: id })).toBe(0);
    },
  );

  it('sends no post-hook for a vetoed operation', async () => {
    const id = await register();
    hook.answer(reject('no'));
    await createUser('nope').expect(403);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(hook.posts).toHaveLength(0);
    expect(await t.dataSource.getRepository(WebhookDelivery).countBy({ subscriptionId: id })).toBe(0);
  });

  it('redelivers a post-hook through /api/hooks/deliveries/:id/redeliver (same webhook-id and bytes)', async () => {
    const id = await register({ phase: 'post' });
    await createUser('eve').expect(200);
    await hook.waitForPosts(1);
    const delivery = await t.dataSource.getRepository(WebhookDelivery).findOneByOrFail({ subscriptionId: id });
    const res = await request(t.server).post(`/api/hooks/deliveries/${delivery.id}/redeliver`).set('X-CyberApp-Auth', auth()).expect(201);
    expect(res.body).toMatchObject({ event_id: delivery.eventId, redelivery_of: delivery.id, payload: delivery.payload });
    const posts = await hook.waitForPosts(2);
    expect(posts[1].headers['webhook-id']).toBe(delivery.eventId);
    expect(posts[1].body.toString('utf8')).toBe(delivery.payload);
  });

  it('reports user.update, user.delete and webhook.rotate_secret with their results', async () => {
    await register({ operations: ['user.update', 'user.delete', 'webhook.rotate_secret'] });
    await createUser('gus').expect(200);
    const [{ id: userId }] = await t.dataSource.query<Array<{ id: string }>>(`SELECT id FROM users WHERE login = 'gus'`);
    await callback(t, partner, 'user_update', { id: userId, name: 'Gus' }, { tenantId: tenant }).expect(200);
    await callback(t, partner, 'user_delete', { id: userId }, { tenantId: tenant }).expect(200);
    const webhook = await request(t.server)
      .post('/api/webhooks')
      .set('X-CyberApp-Auth', auth())
      .send({ name: 'w', payload_url: 'http://127.0.0.1:9/x', ssl_verification: false })
      .expect(201);
    await request(t.server).post(`/api/webhooks/${webhook.body.id}/rotate-secret`).set('X-CyberApp-Auth', auth()).expect(200);
    const posts = await hook.waitForPosts(3);
    const byOperation = Object.fromEntries(posts.map((p) => [String(bodyOf(p).operation), bodyOf(p)]));
    expect(byOperation['user.update']).toMatchObject({ input: { id: userId, name: 'Gus' }, outcome: 'succeeded', result: { user_id: userId } });
    expect(byOperation['user.delete']).toMatchObject({ input: { id: userId }, outcome: 'succeeded', result: { user_id: userId } });
    expect(byOperation['webhook.rotate_secret']).toMatchObject({ organization_id: tree.partner.id, outcome: 'succeeded', result: { subscription_id: webhook.body.id } });
    expect(hook.pres.map((p) => p.headers['x-cs-event'])).toEqual(['pre.user.update', 'pre.user.delete', 'pre.webhook.rotate_secret']);
    await request(t.server).delete(`/api/webhooks/${webhook.body.id}`).set('X-CyberApp-Auth', auth()).expect(204);
  });

  it('keeps hook endpoints and their deliveries out of the webhooks API, and webhooks out of the hooks API', async () => {
    const id = await register({ phase: 'post' });
    await createUser('fay').expect(200);
    await hook.waitForPosts(1);
    const delivery = await t.dataSource.getRepository(WebhookDelivery).findOneByOrFail({ subscriptionId: id });
    const webhooks = await request(t.server).get('/api/webhooks').set('X-CyberApp-Auth', auth()).expect(200);
    expect(webhooks.body.items.map((s: Json) => s.id)).not.toContain(id);
    await request(t.server).get(`/api/webhooks/${id}`).set('X-CyberApp-Auth', auth()).expect(404);
    await request(t.server).delete(`/api/webhooks/${id}`).set('X-CyberApp-Auth', auth()).expect(404);
    await request(t.server).get(`/api/webhooks/deliveries/${delivery.id}`).set('X-CyberApp-Auth', auth()).expect(404);
    const all = await request(t.server).get('/api/webhooks/deliveries').set('X-CyberApp-Auth', auth()).expect(200);
    expect(all.body.items.map((d: Json) => d.id)).not.toContain(delivery.id);
    await request(t.server).get(`/api/hooks/deliveries/${delivery.id}`).set('X-CyberApp-Auth', auth()).expect(200);

    const webhook = await request(t.server)
      .post('/api/webhooks')
      .set('X-CyberApp-Auth', auth())
      .send({ name: 'w', payload_url: 'http://127.0.0.1:9/x', ssl_verification: false })
      .expect(201);
    await request(t.server).get(`/api/hooks/${webhook.body.id}`).set('X-CyberApp-Auth', auth()).expect(404);
    await request(t.server).delete(`/api/webhooks/${webhook.body.id}`).set('X-CyberApp-Auth', auth()).expect(204);
  });
});

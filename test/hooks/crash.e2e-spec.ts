import type { DataSource } from 'typeorm';
import { HookOperation, HookPhase } from '../../src/hooks/hook-operation';
import { User } from '../../src/users/user.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { openDataSource } from '../cli/cli-process';
import { HookServer, startHookServer } from '../fakes/hook-server';
import { createHook } from '../factories/hooks';
import { createTree, mapOrganization } from '../factories/organizations';
import { httpCall, ServiceProcess, sleep, startWorkerService } from '../process/service-process';
import { createTestApp } from '../setup/create-test-app';
import { cyberAppAuth, envelope } from '../setup/protocol';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';

jest.setTimeout(180_000);

const KILL_AFTER_POSTS = 15;
const CALLERS = 4;
const POST_ANSWER_MS = 300;

type Json = Record<string, unknown>;

describe('post-hooks survive a SIGKILL of the service (operations in flight, post-hooks in flight)', () => {
  let database: TestDatabase;
  let hook: HookServer;
  let tenant: string;
  let password: string;
  let hookId: string;
  let ds: DataSource | undefined;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    const secret = generateSecret();
    hook = await startHookServer({ secret });
    // Pre-hooks answer at once with a work_id derived from the input; post-hooks take a while, so the kill finds some in flight.
    hook.answer(
      (d) => ({ status: 200, body: JSON.stringify({ approved: true, work_id: `work-${String((d.json as { input: Json }).input.login)}` }) }),
      { status: 200, body: '{}', delayMs: POST_ANSWER_MS },
    );
    database = await createTestDatabase();
    const t = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false' }, database);
    try {
      const tree = await createTree(t.dataSource);
      password = tree.password;
      tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
      hookId = (await createHook(t.dataSource, { organizationId: tree.partner.id, url: hook.url, operations: [HookOperation.UserCreate], phase: HookPhase.Both, secret })).id;
    } finally {
      await t.close();
    }
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.kill()));
    await ds?.destroy();
    await hook?.close();
    await database?.drop();
  });

  async function startService(): Promise<ServiceProcess> {
    const service = await startWorkerService(database, {
      WEBHOOKS_CONCURRENCY: '8',
      WEBHOOKS_TIMEOUT_MS: '1000',
    });
    services.push(service);
    await service.waitUntilListening();
    return service;
  }

  it('every committed operation has exactly one post-hook, and each is delivered after the restart with its work_id', async () => {
    const first = await startService();
    let next = 0;
    let killed = false;
    const answered: number[] = [];
    const caller = async (): Promise<void> => {
      while (!killed) {
        const login = `crash-${next++}`;
        try {
          const res = await httpCall(first.port!, {
            path: '/callback',
            headers: { 'x-cyberapp-auth': cyberAppAuth('partner', password) },
            body: envelope('user_write', { login, name: login, email: `${login}@example.com` }, { tenantId: tenant }),
          });
          answered.push(res.status);
        } catch {
          return; // the kill cut this request off
        }
      }
    };
    const callers = Array.from({ length: CALLERS }, () => caller());
    const deadline = Date.now() + 90_000;
    while (hook.posts.length < KILL_AFTER_POSTS) {
      if (Date.now() > deadline) throw new Error(`only ${hook.posts.length} post-hooks within 90 s:\n${first.output}`);
      await sleep(5);
    }
    killed = true;
    await first.kill();
    await Promise.all(callers);
    expect(answered.filter((s) => s !== 200)).toEqual([]);

    ds = await openDataSource(database);
    const users = await ds.getRepository(User).find({ where: {} });
    const created = users.filter((u) => u.login.startsWith('crash-'));
    const deliveries = ds.getRepository(WebhookDelivery);
    const userOf = (data: string): string => (JSON.parse(data) as { body: { result: { user_id: string } } }).body.result.user_id;
    // Recorded in the operation's transaction (an outbox event, fanned out by the dispatcher): one post-hook per committed user, none for the others.
    const atKill = await ds.query<Array<{ id: string; data: string }>>(`SELECT id, data FROM events WHERE type = 'post.user.create'`);
    expect(atKill.map((e) => userOf(e.data)).sort()).toEqual(created.map((u) => u.id).sort());
    expect(created.length).toBeGreaterThanOrEqual(answered.length);
    const unfinished = atKill.length - (await deliveries.countBy({ subscriptionId: hookId, state: DeliveryState.Succeeded }));
    expect(unfinished).toBeGreaterThan(0);

    const second = await startService();
    const until = Date.now() + 60_000;
    while ((await deliveries.countBy({ subscriptionId: hookId, state: DeliveryState.Succeeded })) < atKill.length) {
      if (Date.now() > until) throw new Error(`post-hooks not all delivered after the restart:\n${second.output}`);
      await sleep(200);
    }
    await sleep(POST_ANSWER_MS + 200);
    await second.kill();
    // Exactly one delivery per post-hook event, whether the kill came before or after its fan-out.
    const delivered = await deliveries.findBy({ subscriptionId: hookId });
    expect(delivered.map((d) => (JSON.parse(d.payload) as { result: { user_id: string } }).result.user_id).sort()).toEqual(created.map((u) => u.id).sort());
    expect(delivered.map((d) => d.eventId).sort()).toEqual(atKill.map((e) => e.id).sort());

    const posts = hook.posts;
    expect(posts.filter((p) => !p.verified.standard || !p.verified.cs)).toEqual([]);
    const byId = new Map<string, Buffer[]>();
    for (const p of posts) byId.set(String(p.headers['webhook-id']), [...(byId.get(String(p.headers['webhook-id'])) ?? []), p.body]);
    expect(new Set(byId.keys())).toEqual(new Set(delivered.map((d) => d.eventId)));
    // A repeat (an attempt the kill cut off) is the same bytes under the same webhook-id.
    for (const bodies of byId.values()) expect(bodies.every((b) => b.equals(bodies[0]))).toBe(true);
    for (const p of posts) {
      const body = p.json as { input: { login: string }; work_id: string; outcome: string };
      expect(body).toMatchObject({ work_id: `work-${body.input.login}`, outcome: 'succeeded' });
    }
    process.stdout.write(
      `hooks crash (${TEST_DB}): ${created.length} users committed (${answered.length} answered) before the kill, ${unfinished} post-hooks unfinished at the kill; ` +
        `after the restart ${posts.length} post-hook requests for ${byId.size} post-hooks (${posts.length - byId.size} repeated)\n`,
    );
  });
});

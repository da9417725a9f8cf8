import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { EXAMPLE_IDS } from '../../src/callbacks/callback-example';
import { CallbackRegistry } from '../../src/callbacks/callback-registry.service';
import { CallbackRequest } from '../../src/callbacks/callback-request.entity';
import { HOOK_OPERATIONS, HookOperation, HookPhase } from '../../src/hooks/hook-operation';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { WebhookScope } from '../../src/webhooks/webhook-subscription.entity';
import { createHandlerSetup } from '../factories/actions';
import { clearHooks, createHook } from '../factories/hooks';
import { createOrganization, createTree, createUser, mapOrganization, Tree } from '../factories/organizations';
import { createSubscription } from '../factories/webhooks';
import { approve, HookServer, reject, startHookServer } from '../fakes/hook-server';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { callback, Credentials } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

type Json = Record<string, unknown>;

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const shortId = (callbackId: string): string => callbackId.slice(callbackId.indexOf('~') + 1);

/**
 * Every callback the registry serves, in the order of test/ops/openapi.e2e-spec.ts's story (each
 * example builds on the ones before), with the one operation the approval gate must be asked
 * about, or none.
 */
const DECLARED: Array<[string, HookOperation | null]> = [
  ['a.p.enablement.write.v1.0', HookOperation.EnablementWrite],
  ['a.p.enablement.read.v1.0', null],
  ['a.p.topology.read.v1.0', null],
  ['a.p.tenant_mapping.write.v1.0', HookOperation.TenantMappingWrite],
  ['a.p.tenant_mapping.read.v1.0', null],
  ['vendor.app.users_read.v1.0', null],
  ['vendor.app.user_write.v1.0', HookOperation.UserCreate],
  ['vendor.app.user_update.v1.0', HookOperation.UserUpdate],
  ['vendor.app.reset_password.v1.0', null],
  ['vendor.app.action_submit.v1.0', null],
  ['vendor.app.user_delete.v1.0', HookOperation.UserDelete],
  ['a.p.enablement.reset.v1.0', HookOperation.EnablementReset],
  ['a.p.partner.mirroring.enable.v1.0', HookOperation.PartnerMirroringEnable],
  ['a.p.partner.mirroring.get_state.v1.0', null],
  ['a.p.customer.mirroring.set_state.v1.0', HookOperation.CustomerMirroringSetState],
  ['a.p.customer.mirroring.get_state.v1.0', null],
  ['a.p.partner.mirroring.reset.v1.0', HookOperation.PartnerMirroringReset],
];

describe('the approval gate: asked by the callback service for the operation a handler declares', () => {
  let t: TestApp;
  let hook: HookServer;

  beforeAll(async () => {
    t = await createTestApp({ WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8' });
    const secret = generateSecret();
    hook = await startHookServer({ secret });
    const ds = t.dataSource;
    // The example world of the OpenAPI examples, with one pre-hook for every operation.
    await createOrganization(ds, { id: EXAMPLE_IDS.partnerOrganization, name: EXAMPLE_IDS.partnerName });
    await createUser(ds, { organizationId: EXAMPLE_IDS.partnerOrganization, login: 'partner', password: 'partner-password' });
    await createOrganization(ds, { id: EXAMPLE_IDS.customerOrganization, name: EXAMPLE_IDS.customerName, kind: OrganizationKind.Customer, parentId: EXAMPLE_IDS.partnerOrganization });
    await createUser(ds, { id: EXAMPLE_IDS.user, organizationId: EXAMPLE_IDS.customerOrganization, login: 'jane.doe', name: 'Jane Doe', email: 'jane.doe@example.com' });
    await createHandlerSetup(ds, EXAMPLE_IDS.customerOrganization);
    await createHook(ds, { organizationId: EXAMPLE_IDS.partnerOrganization, url: hook.url, operations: HOOK_OPERATIONS, phase: HookPhase.Pre, secret });
  });

  afterAll(async () => {
    await hook.close();
    await t.close();
  });

  it('registers each callback with the approval operation it declares, and none for the others', () => {
    const registry = t.app.get(CallbackRegistry);
    expect(registry.ids().map(shortId).sort()).toEqual(DECLARED.map(([id]) => id).sort());
    const full = new Map(registry.ids().map((id) => [shortId(id), id]));
    expect(DECLARED.map(([id]) => [id, registry.get(full.get(id) ?? id)?.approval ?? null])).toEqual(DECLARED);
  });

  it('asks the gate exactly once per callback that declares an operation, for that operation, and never for the others', async () => {
    const examples = new Map(t.app.get(CallbackRegistry).examples().map((e) => [shortId(e.callbackId), e]));
    const asked: Array<[string, string[]]> = [];
    for (const [id] of DECLARED) {
      const before = hook.pres.length;
      const res = await request(t.server).post('/callback').set('x-cyberapp-auth', cyberAppAuth('partner', 'partner-password')).send(examples.get(id)?.request);
      expect({ id, status: res.status }).toEqual({ id, status: 200 });
      asked.push([id, hook.pres.slice(before).map((p) => String((p.json as Json).operation))]);
    }
    expect(asked).toEqual(DECLARED.map(([id, operation]) => [id, operation === null ? [] : [operation]]));
    expect(hook.pres.map((p) => p.headers['x-cs-event'])).toEqual(DECLARED.flatMap(([, operation]) => (operation === null ? [] : [`pre.${operation}`])));
    // Each asked operation is one decision in the log.
    const decisions = await t.dataSource.query<Array<{ operation: string }>>('SELECT operation FROM hook_decisions ORDER BY created_at');
    expect(decisions.map((d) => d.operation).sort()).toEqual(DECLARED.flatMap(([, operation]) => (operation === null ? [] : [operation])).sort());
  });
});

describe('approval hooks on the outbox: a veto, a rollback, and post-hooks fanned out by the dispatcher', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;
  let tenant: string;
  let hooks: HookServer[];
  const secret = generateSecret();

  beforeAll(async () => {
    t = await createTestApp({ WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8', WEBHOOKS_POLL_MS: '100' });
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
    tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
    hooks = [await startHookServer({ secret }), await startHookServer({ secret })];
  });
  afterEach(async () => {
    await clearHooks(t.dataSource);
    for (const hook of hooks) {
      hook.received.length = 0;
      hook.answer(approve());
    }
  });
  afterAll(async () => {
    await Promise.all(hooks.map((h) => h.close()));
    await t.close();
  });

  const register = (hook: HookServer, phase = HookPhase.Both) =>
    createHook(t.dataSource, { organizationId: tree.partner.id, url: hook.url, operations: [HookOperation.UserCreate], phase, secret });
  const createUser = (login: string, requestId?: string) =>
    callback(t, partner, 'user_write', { login, name: login, email: `${login}@example.com` }, { tenantId: tenant, requestId });
  const eventsOf = (login: string) =>
    t.dataSource.query<Array<{ id: string; type: string; data: string; dispatched_at: unknown }>>(`SELECT id, type, data, dispatched_at FROM events WHERE data LIKE '%"${login}%' ORDER BY created_at`);
  const until = async (done: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!(await done()) && Date.now() < deadline) await sleep(20);
  };

  it('leaves nothing of a vetoed callback: no change, no event, no stored answer; the same request approved later runs once', async () => {
    const [hook] = hooks;
    const { id } = await register(hook);
    hook.answer(reject('not today'));
    const requestId = randomUUID();
    const vetoed = await createUser('vera', requestId).expect(403);
    expect(vetoed.body.message).toContain('not today');
    expect(await t.dataSource.query(`SELECT id FROM users WHERE login = 'vera'`)).toEqual([]);
    expect(await eventsOf('vera')).toEqual([]);
    expect(await t.dataSource.getRepository(CallbackRequest).countBy({ requestId })).toBe(0);
    const logged = await t.dataSource.query<Array<{ outcome: string }>>('SELECT outcome FROM hook_decisions');
    expect(logged.map((d) => d.outcome)).toEqual(['rejected']);

    hook.answer(approve('w-vera'));
    await createUser('vera', requestId).expect(200);
    expect(await t.dataSource.query(`SELECT id FROM users WHERE login = 'vera'`)).toHaveLength(1);
    expect((await eventsOf('vera')).map((e) => e.type).sort()).toEqual(['post.user.create', 'user.created']);
    const [post] = await hook.waitForPosts(1);
    expect(post.json).toMatchObject({ work_id: 'w-vera', outcome: 'succeeded' });
    await until(async () => (await t.dataSource.getRepository(WebhookDelivery).countBy({ subscriptionId: id })) > 0);
    expect(await t.dataSource.getRepository(WebhookDelivery).countBy({ subscriptionId: id })).toBe(1);
  });

  it('records only a "failed" post-hook for a write that fails after its approval (its transaction rolled back)', async () => {
    const [hook] = hooks;
    await createUser('twice').expect(200);
    await register(hook);
    await createUser('twice').expect(409);
    const posts = (await eventsOf('twice')).filter((e) => e.type === 'post.user.create');
    expect(posts.map((e) => (JSON.parse(e.data) as { body: Json }).body.outcome)).toEqual(['failed']);
    const [post] = await hook.waitForPosts(1);
    expect(post.json).toMatchObject({ outcome: 'failed', result: { code: 'CONFLICT' } });
  });

  it('fans a post-hook event out exactly once: one delivery per hook endpoint it names, each with its own work_id, under the event id', async () => {
    const [a, b] = hooks;
    await register(a);
    await register(b);
    a.answer(approve('w-a'));
    b.answer(approve('w-b'));
    await createUser('once').expect(200);
    const [postA] = await a.waitForPosts(1);
    const [postB] = await b.waitForPosts(1);
    // A few more dispatcher polls: nothing more is written or sent.
    await sleep(500);
    const events = (await eventsOf('once')).filter((e) => e.type === 'post.user.create');
    expect(events).toHaveLength(1);
    expect(events[0].dispatched_at).not.toBeNull();
    const deliveries = await t.dataSource.getRepository(WebhookDelivery).findBy({ eventId: events[0].id });
    expect(deliveries).toHaveLength(2);
    expect([a.posts.length, b.posts.length]).toEqual([1, 1]);
    expect([postA.headers['webhook-id'], postB.headers['webhook-id']]).toEqual([events[0].id, events[0].id]);
    expect([(postA.json as Json).work_id, (postB.json as Json).work_id]).toEqual(['w-a', 'w-b']);
    expect(postA.verified).toEqual({ cs: true, standard: true });
    // The bodies differ only in work_id.
    expect({ ...(postA.json as Json), work_id: null }).toEqual({ ...(postB.json as Json), work_id: null });
  });

  it('keeps post-hook events from webhook subscriptions, and domain events from hook endpoints', async () => {
    const [hook] = hooks;
    await register(hook, HookPhase.Post);
    const receiver: WebhookReceiver = await startWebhookReceiver();
    try {
      const subscription = await createSubscription(t.dataSource, { organizationId: tree.partner.id, payloadUrl: receiver.url, secret: null, scope: WebhookScope.Domain });
      await createUser('apart').expect(200);
      await hook.waitForPosts(1);
      await receiver.waitFor(1);
      await sleep(500);
      expect(receiver.received.map((d) => (d.json as Json).type)).toEqual(['user.created']);
      expect(hook.received.map((d) => d.headers['x-cs-event'])).toEqual(['post.user.create']);
      await t.dataSource.query(`DELETE FROM webhook_subscriptions WHERE id = '${subscription.id}'`);
    } finally {
      await receiver.close();
    }
  });
});

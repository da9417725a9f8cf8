import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { v7 } from 'uuid';
import { AuditRetentionJob } from '../../src/audit/audit-retention.job';
import { AuditKind, AuditOutcome } from '../../src/audit/audit-record.entity';
import { AuditService } from '../../src/audit/audit.service';
import { TransactionRunner } from '../../src/database/transaction-runner.service';
import { WebhookScope } from '../../src/webhooks/webhook-subscription.entity';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { createTree, mapOrganization, Tree } from '../factories/organizations';
import { createSubscription } from '../factories/webhooks';
import { callback, errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { eventually } from '../setup/eventually';
import { cyberAppAuth } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

type Json = Record<string, unknown>;
interface Chain {
  record: Json;
  caused_by: Json[];
  caused: Json[];
}
const DAY = 86_400_000;

/** Delivery to local receivers: two attempts 50 ms apart at most, then failed. */
const ENV: Record<string, string> = {
  WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1',
  WEBHOOKS_POLL_MS: '100',
  WEBHOOKS_BACKOFF_BASE_MS: '50',
  WEBHOOKS_BACKOFF_MAX_MS: '100',
  WEBHOOKS_MAX_ATTEMPTS: '3',
  WEBHOOKS_TIMEOUT_MS: '2000',
};

describe('audit trail API', () => {
  let t: TestApp;
  let tree: Tree;
  let tenant: string;
  let partnerAuth: string;
  let otherAuth: string;
  const partner = () => ({ login: 'partner', password: tree.password });

  const get = (path: string, auth = partnerAuth) => request(t.server).get(path).set('X-CyberApp-Auth', auth);
  const list = async (query: Record<string, string>, auth = partnerAuth): Promise<{ items: Json[]; next_before: string | null }> =>
    (await get(`/api/audit?${new URLSearchParams(query).toString()}`, auth).expect(200)).body as { items: Json[]; next_before: string | null };
  const allRows = async (): Promise<Json[]> => t.dataSource.query('SELECT * FROM audit_records ORDER BY id');

  beforeEach(async () => {
    t = await createTestApp(ENV);
    tree = await createTree(t.dataSource);
    tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
    partnerAuth = cyberAppAuth('partner', tree.password);
    otherAuth = cyberAppAuth('other', 'other-password');
  });
  afterEach(() => t.close());

  it('records a read callback: callback id, request id, tenant, caller, outcome and duration', async () => {
    const res = await callback(t, partner(), 'users_read', {}, { tenantId: tenant }).expect(200);
    const requestId = res.body.request_id as string;
    const { items } = await eventually(() => list({ q: requestId }), (page) => page.items.length === 1);
    expect(items[0]).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      kind: 'callback',
      name: expect.stringContaining('users_read'),
      outcome: 'ok',
      code: '200',
      organization_id: tree.partner.id,
      tenant_id: tenant,
      actor: 'partner',
      request_id: requestId,
      event_id: null,
      delivery_id: null,
      work_id: null,
      action_id: null,
      cause_id: null,
      duration_ms: expect.any(Number),
      detail: null,
    });
  });

  it('records a refused authentication with the login and its organization, and never the password', async () => {
    const secret = 'wrong-password-Zq9!';
    const res = await callback(t, { login: 'partner', password: secret }, 'users_read', {}, { tenantId: tenant }).expect(401);
    expect(res.body).toEqual(errorEnvelope('UNAUTHENTICATED', res.body.request_id as string));
    // No header at all: recorded too, with nobody to attribute it to (so no organization sees it).
    await callback(t, null, 'users_read', {}, { tenantId: tenant }).expect(401);
    const rows = await eventually(allRows, (r) => r.length === 2);
    const { items } = await list({ outcome: 'failed' });
    expect(items).toEqual([
      expect.objectContaining({ kind: 'callback', outcome: 'failed', code: 'UNAUTHENTICATED', actor: 'partner', organization_id: tree.partner.id, tenant_id: tenant, detail: { status: 401 } }),
    ]);
    expect(rows.find((r) => r.actor === null)).toEqual(expect.objectContaining({ organization_id: null, code: 'UNAUTHENTICATED' }));
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(cyberAppAuth('partner', secret));
    expect(stored).not.toContain(tree.password);
  });

  it('links a user_write to its event, the deliveries it fanned out to and their attempts against a real receiver', async () => {
    const receiver: WebhookReceiver = await startWebhookReceiver({ secret: 'audit-secret' });
    try {
      receiver.setBehaviour((_delivery, index) => (index === 0 ? { status: 503, body: 'busy' } : { status: 200, body: 'ok' }));
      const subscription = await createSubscription(t.dataSource, { organizationId: tree.partner.id, payloadUrl: receiver.url, secret: 'audit-secret', scope: WebhookScope.Domain });
      const res = await callback(t, partner(), 'user_write', { login: 'audit.user', name: 'Audit User', email: 'audit@example.test' }, { tenantId: tenant }).expect(200);
      await receiver.waitFor(2);
      const [written] = (await list({ q: res.body.request_id as string, kind: 'callback' })).items;
      expect(written).toEqual(expect.objectContaining({ outcome: 'ok', code: '200', actor: 'partner', name: expect.stringContaining('user_write') }));
      const chain = await eventually(
        async () => (await get(`/api/audit/${written.id as string}`).expect(200)).body as Chain,
        (c) => c.caused.filter((r) => r.kind === 'delivery.attempt').length === 2,
      );
      const [event] = chain.caused.filter((r) => r.kind === 'event');
      expect(event).toEqual(expect.objectContaining({ name: 'user.created', cause_id: written.id, organization_id: tree.customers[0].id, detail: { deliveries: 1 } }));
      expect(event.id).toBe(event.event_id);
      const [delivery] = chain.caused.filter((r) => r.kind === 'delivery');
      expect(delivery).toEqual(
        expect.objectContaining({ cause_id: event.id, event_id: event.id, delivery_id: delivery.id, organization_id: tree.partner.id, detail: { subscription_id: subscription.id } }),
      );
      const attempts = chain.caused.filter((r) => r.kind === 'delivery.attempt');
      expect(attempts).toEqual([
        expect.objectContaining({ cause_id: delivery.id, delivery_id: delivery.id, event_id: event.id, outcome: 'failed', code: '503' }),
        expect.objectContaining({ cause_id: delivery.id, delivery_id: delivery.id, event_id: event.id, outcome: 'ok', code: '200' }),
      ]);
      // From the attempt, up the chain to the callback.
      const up = (await get(`/api/audit/${attempts[1].id as string}`).expect(200)).body as Chain;
      expect(up.caused_by.map((r) => r.id)).toEqual([delivery.id, event.id, written.id]);
      // The search finds the event's records by its id, and the delivery's by its id.
      expect((await list({ q: event.id as string })).items.map((r) => r.kind).sort()).toEqual(['delivery', 'delivery.attempt', 'delivery.attempt', 'event']);
      expect((await list({ q: delivery.id as string, kind: 'delivery.attempt', outcome: 'failed' })).items).toHaveLength(1);
      // A replay is a new delivery caused by the one it copies, by whoever asked for it.
      const replay = await request(t.server).post(`/api/webhooks/deliveries/${delivery.id as string}/redeliver`).set('X-CyberApp-Auth', partnerAuth).expect(202);
      await receiver.waitFor(3);
      const below = await eventually(
        async () => (await get(`/api/audit/${delivery.id as string}`).expect(200)).body as Chain,
        (c) => c.caused.filter((r) => r.kind === 'delivery.attempt').length === 3,
      );
      expect(below.caused.find((r) => r.id === replay.body.id)).toEqual(
        expect.objectContaining({ kind: 'delivery', cause_id: delivery.id, actor: 'partner', detail: { subscription_id: subscription.id, replay_of: delivery.id } }),
      );
      expect(below.caused.filter((r) => r.cause_id === replay.body.id)).toEqual([expect.objectContaining({ kind: 'delivery.attempt', outcome: 'ok' })]);
    } finally {
      await receiver.close();
    }
  });

  it('records the error code of a callback refused before its handler (bad JSON, wrong media type)', async () => {
    const post = () => request(t.server).post('/callback').set('X-CyberApp-Auth', partnerAuth);
    const malformed = await post().set('content-type', 'application/json').send('{"context":').expect(400);
    const wrongType = await post().set('content-type', 'text/csv').send('a,b').expect(415);
    const rows = await eventually(allRows, (r) => r.length === 2);
    expect(rows.map((r) => [r.code, r.outcome]).sort()).toEqual(
      [
        [malformed.body.code, 'failed'],
        [wrongType.body.code, 'failed'],
      ].sort(),
    );
    expect([malformed.body.code, wrongType.body.code]).toEqual(['MALFORMED_REQUEST', 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it('filters by kind, outcome, organization, tenant and time, and pages by key', async () => {
    for (let i = 0; i < 5; i++) await callback(t, partner(), 'users_read', {}, { tenantId: tenant }).expect(200);
    const refused = await callback(t, partner(), 'user_write', { login: '' }, { tenantId: tenant }).expect(400);
    await eventually(allRows, (r) => r.length === 6);
    expect((await list({ kind: 'callback' })).items).toHaveLength(6);
    expect((await list({ kind: 'event' })).items).toHaveLength(0);
    expect((await list({ outcome: 'failed' })).items.map((r) => [r.code, r.request_id])).toEqual([[refused.body.code, refused.body.request_id]]);
    expect((await list({ outcome: 'ok', tenant_id: tenant })).items).toHaveLength(5);
    expect((await list({ tenant_id: randomUUID() })).items).toHaveLength(0);
    expect((await list({ organization_id: tree.partner.id })).items).toHaveLength(6);
    expect((await list({ organization_id: tree.customers[0].id })).items).toHaveLength(0);
    expect((await list({ from: new Date(Date.now() + 60_000).toISOString() })).items).toHaveLength(0);
    expect((await list({ to: new Date(Date.now() + 60_000).toISOString(), from: new Date(Date.now() - 60_000).toISOString() })).items).toHaveLength(6);

    const seen: string[] = [];
    let before: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page = await list(before ? { limit: '4', before } : { limit: '4' });
      seen.push(...page.items.map((r) => r.id as string));
      before = page.next_before;
      if (!before) break;
    }
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    expect([...seen].sort().reverse()).toEqual(seen);
  });

  it("hides another organization's records, also by id and by organization filter", async () => {
    const res = await callback(t, partner(), 'users_read', {}, { tenantId: tenant }).expect(200);
    const [record] = (await eventually(() => list({ q: res.body.request_id as string }), (p) => p.items.length === 1)).items;
    expect((await list({}, otherAuth)).items).toEqual([]);
    expect((await list({ q: res.body.request_id as string }, otherAuth)).items).toEqual([]);
    const byId = await get(`/api/audit/${record.id as string}`, otherAuth).expect(404);
    expect(byId.body).toEqual(errorEnvelope('NOT_FOUND'));
    await get(`/api/audit?organization_id=${tree.partner.id}`, otherAuth).expect(404);
    await get(`/api/audit/not-an-id`).expect(404);
    await get(`/api/audit/${randomUUID()}`).expect(404);
  });

  it('refuses bad query parameters with a 400 in the error envelope and changes nothing', async () => {
    await callback(t, partner(), 'users_read', {}, { tenantId: tenant }).expect(200);
    await eventually(allRows, (r) => r.length === 1);
    const before = { data: await snapshot(t.dataSource), audit: await allRows() };
    for (const query of [
      'kindd=callback',
      'kind=bogus',
      'outcome=maybe',
      'before=not-a-uuid',
      'limit=0',
      'limit=501',
      'from=yesterday',
      `from=${new Date().toISOString()}&to=${new Date(Date.now() - DAY).toISOString()}`,
      'q=',
      'kind=callback&kind=event',
    ]) {
      const res = await get(`/api/audit?${query}`).expect(400);
      expect(res.body).toEqual(errorEnvelope('VALIDATION_FAILED'));
    }
    expect((await get('/api/audit?kindd=callback').expect(400)).body.message).toContain('unknown field kindd');
    await request(t.server).get('/api/audit').expect(401);
    expect({ data: await snapshot(t.dataSource), audit: await allRows() }).toEqual(before);
  });

  it('sweeps records by age with the clock the test gives, failed ones no sooner', async () => {
    const now = Date.now();
    const at = (daysAgo: number) => new Date(now - daysAgo * DAY);
    const make = (daysAgo: number, outcome: AuditOutcome) => ({
      id: v7({ msecs: at(daysAgo).getTime() }),
      at: at(daysAgo),
      kind: AuditKind.Callback,
      outcome,
      organizationId: tree.partner.id,
    });
    const records = [make(31, AuditOutcome.Ok), make(31, AuditOutcome.Failed), make(29, AuditOutcome.Failed), make(29, AuditOutcome.Ok), make(0, AuditOutcome.Failed)];
    await t.app.get(TransactionRunner).run((em) => t.app.get(AuditService).record(em, records));
    const job = t.app.get(AuditRetentionJob);
    const ids = async () => ((await allRows()).map((r) => r.id as string));

    expect(await job.sweep(new Date(now))).toBe(2);
    expect(await ids()).toEqual(records.slice(2).map((r) => r.id).sort());
    // A day later, nothing else is 30 days old yet.
    expect(await job.sweep(new Date(now + DAY - 60_000))).toBe(0);
    expect(await job.sweep(new Date(now + 2 * DAY))).toBe(2);
    expect(await ids()).toEqual([records[4].id]);
  });
});

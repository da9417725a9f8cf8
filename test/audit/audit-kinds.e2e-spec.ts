import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { ConnectorItemKind } from '../../src/connector/connector-item.entity';
import { ConnectorRunner } from '../../src/connector/connector-runner.service';
import { ActionTestApp, createActionTestApp } from '../actions/action-test-app';
import { createItems } from '../factories/connector-items';
import { mapOrganization } from '../factories/organizations';
import { createSource, CreatedSource, notification, recorderAction, SHELL } from '../factories/s3-events';
import { ActionWsClient } from '../fakes/action-ws-client';
import { FakeAcronisApi, replies, startFakeAcronisApi } from '../fakes/fake-acronis-api';
import { connectorEnv } from '../setup/connector-env';
import { eventually } from '../setup/eventually';
import { cyberAppAuth } from '../setup/protocol';

type Json = Record<string, unknown>;
const MAX_ATTEMPTS = 3;

jest.setTimeout(60_000);

/**
 * The audit records of the work done outside callbacks (docs/audit.md): connector pushes against
 * the fake Acronis API, S3 notifications taken in and the actions run on them, and actions of the
 * action channel driven by a real WebSocket handler. One app for all: each test finds its records
 * by the id of its own work.
 */
describe('audit records of connector pushes, S3 records and actions', () => {
  let api: FakeAcronisApi;
  let t: ActionTestApp;
  let dir: string;
  let tenant: string;
  let otherAuth: string;
  const clients: ActionWsClient[] = [];

  beforeAll(async () => {
    api = await startFakeAcronisApi();
    t = await createActionTestApp({
      ...connectorEnv(api, { CONNECTOR_MAX_ATTEMPTS: String(MAX_ATTEMPTS) }),
      S3_EVENTS_ALLOWED_COMMANDS: SHELL,
      S3_EVENTS_POLL_MS: '50',
      S3_EVENTS_BACKOFF_BASE_MS: '50',
      S3_EVENTS_BACKOFF_MAX_MS: '100',
      S3_EVENTS_MAX_ATTEMPTS: '2',
    });
    tenant = (await mapOrganization(t.dataSource, t.tree.customers[0].id)).acronisTenantId;
    otherAuth = cyberAppAuth('other', 'other-password');
    dir = mkdtempSync(join(tmpdir(), 'audit-kinds-'));
  });
  afterAll(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await t.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => api.reset());

  const list = async (query: Record<string, string>, auth = t.auth): Promise<Json[]> => {
    const res = await request(t.server).get(`/api/audit?${new URLSearchParams(query).toString()}`).set('X-CyberApp-Auth', auth).expect(200);
    return (res.body as { items: Json[] }).items;
  };
  /** The stored rows of `kind` whose `column` is `value`, oldest first (straight from the table, every column). */
  const rows = (kind: string, column: 'work_id' | 'action_id', value: string): Promise<Json[]> =>
    t.dataSource.query(`SELECT * FROM audit_records WHERE kind = $1 AND ${column} = $2 ORDER BY id`.replace(/\$\d/g, t.dataSource.options.type === 'postgres' ? (m) => m : () => '?'), [kind, value]);
  const detailOf = (row: Json): Json => (typeof row.detail === 'string' ? (JSON.parse(row.detail) as Json) : (row.detail as Json));

  /** The records are the owner's: the partner (above the organization) finds them, the unrelated partner neither lists nor opens them. */
  async function expectOwnedByPartnerOnly(q: string, count: number): Promise<void> {
    const seen = await list({ q });
    expect(seen).toHaveLength(count);
    expect(await list({ q }, otherAuth)).toEqual([]);
    for (const record of seen) {
      await request(t.server).get(`/api/audit/${record.id as string}`).set('X-CyberApp-Auth', otherAuth).expect(404);
      await request(t.server).get(`/api/audit/${record.id as string}`).set('X-CyberApp-Auth', t.auth).expect(200);
    }
  }

  /** No credential of any party in the stored rows. */
  function expectNoSecrets(stored: Json[], extra: string[] = []): void {
    const text = JSON.stringify(stored);
    for (const secret of [api.clientSecret, ...api.issuedTokens, t.setup.token, t.tree.password, t.auth, otherAuth, 'other-password', ...extra]) {
      expect(text).not.toContain(secret);
    }
  }

  const runConnector = async (): Promise<void> => {
    if (!(await t.app.get(ConnectorRunner).runOnce('cli'))) throw new Error('runOnce did not run');
  };

  describe('connector.push', () => {
    it('records a push the API took: item kind, 200, the organization and tenant, the item as work_id', async () => {
      const [item] = await createItems(t.dataSource, [{ organizationId: t.tree.customers[0].id }]);
      await runConnector();
      expect(api.alerts).toHaveLength(1);

      const stored = await rows('connector.push', 'work_id', item.id);
      expect(stored).toHaveLength(1);
      const [record] = await list({ q: item.id });
      expect(record).toEqual(
        expect.objectContaining({
          kind: 'connector.push',
          name: ConnectorItemKind.Alert,
          outcome: 'ok',
          code: '200',
          organization_id: t.tree.customers[0].id,
          tenant_id: tenant,
          work_id: item.id,
          action_id: null,
          duration_ms: expect.any(Number),
          detail: { attempt: 1, state: 'sent' },
        }),
      );
      await expectOwnedByPartnerOnly(item.id, 1);
      expectNoSecrets(stored);
    });

    it('records a push the API refused with a 4xx as failed, with the status as code', async () => {
      const [item] = await createItems(t.dataSource, [{ organizationId: t.tree.customers[0].id }]);
      api.enqueue('pushes', replies.json(400, { error: 'validation_error', message: 'details.title is too long' }));
      await runConnector();

      expect(await list({ q: item.id })).toEqual([
        expect.objectContaining({ kind: 'connector.push', outcome: 'failed', code: '400', work_id: item.id, organization_id: t.tree.customers[0].id, detail: { attempt: 1, state: 'failed' } }),
      ]);
      expect(await list({ q: item.id, outcome: 'failed', kind: 'connector.push' })).toHaveLength(1);
      await expectOwnedByPartnerOnly(item.id, 1);
      expectNoSecrets(await rows('connector.push', 'work_id', item.id));
    });

    it('records every attempt of a push the API answers with 5xx, each failed with its status', async () => {
      const [item] = await createItems(t.dataSource, [{ organizationId: t.tree.customers[0].id }]);
      api.enqueue('pushes', replies.serverError(503), MAX_ATTEMPTS);
      await runConnector();
      expect(api.alerts).toHaveLength(MAX_ATTEMPTS);

      const stored = await rows('connector.push', 'work_id', item.id);
      expect(stored.map((r) => [r.outcome, r.code, detailOf(r)])).toEqual([
        ['failed', '503', { attempt: 1, state: 'pending' }],
        ['failed', '503', { attempt: 2, state: 'pending' }],
        ['failed', '503', { attempt: 3, state: 'failed' }],
      ]);
      await expectOwnedByPartnerOnly(item.id, MAX_ATTEMPTS);
      expectNoSecrets(stored);
    });

    it('records nothing for an item of an unmapped organization (nothing was pushed)', async () => {
      const [item] = await createItems(t.dataSource, [{ organizationId: t.tree.customers[1].id }]);
      await runConnector();
      expect(api.alerts).toHaveLength(0);
      expect(await rows('connector.push', 'work_id', item.id)).toEqual([]);
    });
  });

  describe('s3.record and s3.action', () => {
    const inboxOf = async (source: CreatedSource): Promise<Json[]> =>
      (await request(t.server).get(`/api/s3-events/inbox?source_id=${source.id}`).set('X-CyberApp-Auth', t.auth).expect(200)).body.items as Json[];

    it('records a notification taken in and the action run on it, linked by the inbox record; a duplicate records nothing more', async () => {
      const org = t.tree.customers[1];
      const source = await createSource(t, t.auth, { name: 'audited', organization_id: org.id, allowed_buckets: ['bucketA'], actions: [recorderAction(join(dir, 'ok.log'))] });
      const body = notification({ key: 'audited.txt', sequencer: 7, size: 3 });
      expect((await request(t.server).post(source.intake_path).send(body).expect(200)).body).toEqual({ stored: 1, duplicates: 0 });
      const [inbox] = await eventually(() => inboxOf(source), (items) => items.length === 1 && items[0].state === 'done');
      const workId = inbox.id as string;
      expect((await request(t.server).post(source.intake_path).send(body).expect(200)).body).toEqual({ stored: 0, duplicates: 1 });

      const records = await eventually(() => list({ q: workId }), (items) => items.some((r) => r.kind === 's3.action'));
      expect(records.filter((r) => r.kind === 's3.record')).toEqual([
        expect.objectContaining({
          name: 's3:ObjectCreated:Put',
          outcome: 'ok',
          code: 'stored',
          organization_id: org.id,
          work_id: workId,
          action_id: null,
          detail: { source_id: source.id, bucket: 'bucketA' },
        }),
      ]);
      expect(records.filter((r) => r.kind === 's3.action')).toEqual([
        expect.objectContaining({
          name: 'command',
          outcome: 'ok',
          code: 'ok',
          organization_id: org.id,
          work_id: workId,
          duration_ms: expect.any(Number),
          detail: { action_index: 0, attempt: 1, state: 'done' },
        }),
      ]);
      // The duplicate: no second inbox record, no second s3.record of this source.
      const all: Json[] = await t.dataSource.query(`SELECT * FROM audit_records WHERE kind = 's3.record'`);
      expect(all.filter((r) => detailOf(r).source_id === source.id)).toHaveLength(1);
      await expectOwnedByPartnerOnly(workId, 2);
      expectNoSecrets([...(await rows('s3.record', 'work_id', workId)), ...(await rows('s3.action', 'work_id', workId))], [source.token]);
    });

    it('records each failed run of an action with its exit code', async () => {
      const org = t.tree.customers[1];
      const source = await createSource(t, t.auth, { name: 'broken', organization_id: org.id, allowed_buckets: ['bucketA'], actions: [recorderAction(join(dir, 'broken.log'), 0, 99)] });
      await request(t.server).post(source.intake_path).send(notification({ key: 'broken.txt', sequencer: 1 })).expect(200);
      const [inbox] = await eventually(() => inboxOf(source), (items) => items.length === 1 && items[0].state === 'failed', 20_000);
      const workId = inbox.id as string;

      const stored = await rows('s3.action', 'work_id', workId);
      expect(stored.map((r) => [r.name, r.outcome, r.code, r.organization_id, detailOf(r)])).toEqual([
        ['command', 'failed', 'exit 3', org.id, { action_index: 0, attempt: 1, state: 'pending' }],
        ['command', 'failed', 'exit 3', org.id, { action_index: 0, attempt: 2, state: 'failed' }],
      ]);
      expect(await list({ q: workId, kind: 's3.action', outcome: 'failed' })).toHaveLength(2);
      await expectOwnedByPartnerOnly(workId, 3);
      expectNoSecrets(stored, [source.token]);
    });
  });

  describe('action', () => {
    const connect = async (): Promise<ActionWsClient> => {
      const c = await ActionWsClient.connect(t.port, t.setup.token);
      clients.push(c);
      return c;
    };
    const submit = async (body: Json = {}): Promise<string> => {
      const res = await request(t.server)
        .post('/api/actions')
        .set('X-CyberApp-Auth', t.auth)
        .send({ capability: 'ExecuteCommand', parameters: { Command: 'uptime' }, ...body })
        .expect(201);
      return (res.body as { id: string }).id;
    };
    const codes = async (id: string, count: number): Promise<Json[]> => eventually(() => rows('action', 'action_id', id), (r) => r.length === count);

    it('records the submission, by its submitter, and the completion once, linked by the action id', async () => {
      const c = await connect();
      const id = await submit();
      await c.submitFor(id);
      c.ack(id);
      const ack = c.nextFor('acknowledged', id);
      c.result(id, { message: 'Action successful', code: 200, data: 'up' });
      await ack;
      // A result sent again is acknowledged, not stored again: no second completion.
      const again = c.nextFor('acknowledged', id);
      c.result(id, { message: 'Action successful', code: 200, data: 'up' });
      await again;

      await codes(id, 2);
      const records = await list({ q: id });
      const common = { kind: 'action', name: 'ExecuteCommand', organization_id: t.tree.partner.id, action_id: id, work_id: null };
      expect(records).toEqual([
        expect.objectContaining({ ...common, outcome: 'ok', code: 'completed', actor: null, detail: { handler_id: t.setup.handler.id, result_code: 200 } }),
        expect.objectContaining({ ...common, outcome: 'ok', code: 'submitted', actor: 'partner', detail: { handler_id: t.setup.handler.id } }),
      ]);
      await expectOwnedByPartnerOnly(id, 2);
      expectNoSecrets(await rows('action', 'action_id', id));
    });

    it('records a refusal by the handler as failed', async () => {
      const c = await connect();
      const id = await submit();
      await c.submitFor(id);
      c.send({ type: 'negativeAcknowledged', id, code: 422, message: 'will not run that' });

      const stored = await codes(id, 2);
      expect(stored.map((r) => [r.outcome, r.code])).toEqual([
        ['ok', 'submitted'],
        ['failed', 'refused'],
      ]);
      expect(detailOf(stored[1])).toEqual({ handler_id: t.setup.handler.id, result_code: 422 });
      await expectOwnedByPartnerOnly(id, 2);
      expectNoSecrets(stored);
    });

    it('records an action nobody answered in time as expired', async () => {
      const c = await connect();
      const id = await submit({ timeout_ms: 1000 });
      await c.submitFor(id);
      c.ack(id);

      const stored = await codes(id, 2);
      expect(stored.map((r) => [r.outcome, r.code])).toEqual([
        ['ok', 'submitted'],
        ['failed', 'expired'],
      ]);
      expect(detailOf(stored[1])).toEqual({ handler_id: t.setup.handler.id, last_state: 'acknowledged', send_count: 1 });
      await expectOwnedByPartnerOnly(id, 2);
      expectNoSecrets(stored);
    });
  });
});

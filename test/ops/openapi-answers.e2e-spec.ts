import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { ConnectorRun, ConnectorRunStatus } from '../../src/connector/connector-run.entity';
import { HookDecision } from '../../src/hooks/hook-decision.entity';
import { HookDecisionOutcome, HookErrorClass, HookFailurePolicy, HookOperation } from '../../src/hooks/hook-operation';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { DeliveryErrorClass } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { DeliveryState } from '../../src/webhooks/webhook-delivery.entity';
import { createHandlerSetup } from '../factories/actions';
import { alertBody } from '../factories/connector-items';
import { createOrganization, createUser, mapOrganization } from '../factories/organizations';
import { createAttempt, createDelivery } from '../factories/webhooks';
import { callback } from '../setup/callback-client';
import { notification, PUBLISHED_CONFIRMATION, recorderAction, SHELL } from '../factories/s3-events';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { eventually } from '../setup/eventually';
import { cyberAppAuth } from '../setup/protocol';

type Json = Record<string, unknown>;

interface Schema {
  $ref?: string;
  type?: string;
  nullable?: boolean;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  allOf?: Schema[];
  oneOf?: Schema[];
}

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

/** A real answer of one documented operation: `path` as the document spells it (`/api/hooks/{id}`). */
interface Answer {
  method: 'get' | 'post' | 'patch';
  path: string;
  status: number;
  body: unknown;
}

const PASSWORD = 'partner-password';
/** No delivery worker: the redeliveries made here stay pending rather than knock on a closed port. */
const ENV = { WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1', WEBHOOKS_WORKER_ENABLED: 'false', S3_EVENTS_ALLOWED_PRIVATE: '127.0.0.1/8', S3_EVENTS_ALLOWED_COMMANDS: SHELL, S3_EVENTS_POLL_MS: '50' };
/** A closed port: nothing the test creates is ever delivered. */
const NOWHERE = 'http://127.0.0.1:9/hook';
/** What the S3 command action appends to. */
const recorder = join(tmpdir(), `openapi-answers-${randomUUID()}.log`);
/** The module prefixes whose every answer this spec sends and checks. */
const MODULES = ['/api/connector', '/api/audit', '/api/hooks', '/api/actions', '/api/action/1.0', '/api/s3-events', '/s3-events/{token}', '/api/webhooks'];

const resolve = (doc: OpenApiDocument, schema: Schema): Schema => {
  if (schema.$ref) return resolve(doc, doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')]);
  // A nullable reference is written as `allOf: [{ $ref }]` beside `nullable`.
  if (schema.allOf?.length === 1) return { ...resolve(doc, schema.allOf[0]), nullable: schema.nullable };
  return schema;
};

/**
 * Compares a value with its documented schema, down every documented object: every key sent is a
 * documented property, every required property is sent, in the documented order; arrays by each
 * element; `null` only where the schema says nullable. Free-form objects (no `properties`) are not
 * entered.
 */
function mismatches(doc: OpenApiDocument, documented: Schema, value: unknown, at: string): string[] {
  const schema = resolve(doc, documented);
  if (value === null) return schema.nullable ? [] : [`${at}: null, documented as not nullable`];
  if (schema.oneOf) {
    const tries = schema.oneOf.map((branch) => mismatches(doc, branch, value, at));
    return tries.some((problems) => problems.length === 0) ? [] : [`${at}: matches none of its oneOf schemas (${tries.map((p) => p.join('; ')).join(' | ')})`];
  }
  if (schema.type === 'array' || schema.items) {
    if (!Array.isArray(value)) return [`${at}: not an array`];
    return value.flatMap((v, i) => (schema.items ? mismatches(doc, schema.items, v, `${at}[${i}]`) : []));
  }
  if (!schema.properties) return [];
  if (typeof value !== 'object' || Array.isArray(value)) return [`${at}: not an object`];
  const properties = Object.keys(schema.properties);
  const sent = Object.keys(value);
  const problems = [
    ...sent.filter((k) => !properties.includes(k)).map((k) => `${at}.${k}: sent, not documented`),
    ...(schema.required ?? []).filter((k) => !sent.includes(k)).map((k) => `${at}.${k}: documented as required, not sent`),
  ];
  const order = properties.filter((k) => sent.includes(k));
  if (problems.length === 0 && sent.join() !== order.join()) problems.push(`${at}: keys sent as ${sent.join(', ')}; documented as ${order.join(', ')}`);
  return [...problems, ...sent.filter((k) => schema.properties?.[k]).flatMap((k) => mismatches(doc, schema.properties?.[k] as Schema, (value as Json)[k], `${at}.${k}`))];
}

describe('OpenAPI document: every management API answer is the documented shape', () => {
  let t: TestApp;
  let doc: OpenApiDocument;
  let auth: string;
  let rootId: string;
  let customerId: string;
  let tenantId: string;
  const answers: Answer[] = [];

  /** Sends a request, expects `status`, and keeps the answer for the comparison. */
  async function send(method: Answer['method'], url: string, path: string, status: number, body?: Json, headers: Record<string, string> = { 'x-cyberapp-auth': auth }): Promise<Json> {
    const req = request(t.server)[method](url).set(headers);
    const res = await (body === undefined ? req : req.send(body));
    expect({ url, status: res.status, body: res.status === status ? 'as expected' : (res.body as unknown) }).toEqual({ url, status, body: 'as expected' });
    answers.push({ method, path, status, body: res.body as unknown });
    return res.body as Json;
  }

  /** The answers sent under `prefix`, each compared with the schema its operation documents for its status. */
  function check(prefix: string): void {
    const mine = answers.filter((a) => a.path.startsWith(prefix));
    expect(mine.length).toBeGreaterThan(0);
    const failures = mine.flatMap((a) => {
      const label = `${a.method.toUpperCase()} ${a.path} ${a.status}`;
      const schema = doc.paths[a.path]?.[a.method]?.responses[String(a.status)]?.content?.['application/json']?.schema;
      return schema ? mismatches(doc, schema, a.body, label) : [`${label}: no schema documented`];
    });
    expect(failures).toEqual([]);
  }

  beforeAll(async () => {
    t = await createTestApp(ENV);
    // One top-level organization: its users are the vendor's (connector runs, Global scope).
    rootId = (await createOrganization(t.dataSource, { name: 'Root Partner' })).id;
    customerId = (await createOrganization(t.dataSource, { kind: OrganizationKind.Customer, parentId: rootId, name: 'Customer' })).id;
    await createUser(t.dataSource, { organizationId: rootId, login: 'partner', password: PASSWORD });
    tenantId = (await mapOrganization(t.dataSource, rootId)).acronisTenantId;
    auth = cyberAppAuth('partner', PASSWORD);
    doc = (await request(t.server).get('/api/docs-json').expect(200)).body as OpenApiDocument;
  });

  afterAll(async () => {
    await t.close();
    rmSync(recorder, { force: true });
  });

  it('connector: intake, items (each kind, with its body), send-now and runs', async () => {
    const items = [
      { idempotency_key: 'alert-1', kind: 'alert', alert: { ...alertBody(), ResourceID: 'r-1', ResourceName: 'vm-1' } },
      { idempotency_key: 'workload-1', kind: 'workload', workload: { key: 'device-1', type: 'vm', name: 'vm-1', attributes: { os: 'linux' } } },
    ];
    const stored = (await send('post', '/api/connector/items', '/api/connector/items', 202, { organization_id: customerId, items })).items as Json[];
    // Both name items of the first batch.
    const later = [
      { idempotency_key: 'dismissal-1', kind: 'alert_dismissal', alert_dismissal: { alert_key: 'alert-1' } },
      { idempotency_key: 'removal-1', kind: 'workload_removal', workload_removal: { type: 'vm', key: 'device-1' } },
    ];
    stored.push(...((await send('post', '/api/connector/items', '/api/connector/items', 202, { organization_id: customerId, items: later })).items as Json[]));
    expect(stored.map((item) => item.kind)).toEqual(['alert', 'workload', 'alert_dismissal', 'workload_removal']);
    await send('get', '/api/connector/items?limit=2', '/api/connector/items', 200);
    for (const item of stored) await send('get', `/api/connector/items/${String(item.id)}`, '/api/connector/items/{id}', 200);
    await send('post', `/api/connector/items/${String(stored[0].id)}/send-now`, '/api/connector/items/{id}/send-now', 200);
    const startedAt = new Date(Date.now() - 5000);
    await t.dataSource.manager.insert(ConnectorRun, [
      { id: randomUUID(), trigger: 'schedule', holder: 'replica-1', status: ConnectorRunStatus.Completed, startedAt, finishedAt: new Date(), sent: 3, failed: 1, skipped: 0, error: null },
      { id: randomUUID(), trigger: 'api', holder: 'replica-1', status: ConnectorRunStatus.Running, startedAt: new Date(), finishedAt: null, sent: 0, failed: 0, skipped: 0, error: null },
    ]);
    await send('get', '/api/connector/runs?limit=1', '/api/connector/runs', 200);
    check('/api/connector');
  });

  it('audit: the trail and a record with its chain', async () => {
    await callback(t, { login: 'partner', password: PASSWORD }, 'users_read', {}, { tenantId }).expect(200);
    // The trail is written after the answer.
    await eventually(() => t.dataSource.query('SELECT id FROM audit_records'), (rows: unknown[]) => rows.length > 0);
    const records = (await send('get', '/api/audit', '/api/audit', 200)).items as Json[];
    await send('get', `/api/audit/${String(records[0].id)}`, '/api/audit/{id}', 200);
    check('/api/audit');
  });

  it('hooks: endpoints, secrets, decisions and post-hook deliveries', async () => {
    const hook = await send('post', '/api/hooks', '/api/hooks', 201, { url: NOWHERE, operations: [HookOperation.UserCreate], ssl_verification: false });
    const id = String(hook.id);
    await send('get', '/api/hooks', '/api/hooks', 200);
    await send('get', `/api/hooks/${id}`, '/api/hooks/{id}', 200);
    await send('patch', `/api/hooks/${id}`, '/api/hooks/{id}', 200, { name: 'renamed' });
    await send('post', `/api/hooks/${id}/rotate-secret`, '/api/hooks/{id}/rotate-secret', 200, {});
    const decision = {
      id: randomUUID(),
      callId: randomUUID(),
      operation: HookOperation.UserCreate,
      hookId: id,
      hookOrganizationId: rootId,
      organizationId: customerId,
      authId: 'partner',
      outcome: HookDecisionOutcome.Rejected,
      approved: null,
      workId: null,
      reason: null,
      statusCode: 503,
      errorClass: HookErrorClass.Http,
      error: 'HTTP 503',
      failurePolicy: HookFailurePolicy.FailClosed,
      policyApplied: true,
      latencyMs: 12,
      createdAt: new Date(),
    };
    await t.dataSource.manager.insert(HookDecision, decision);
    await send('get', '/api/hooks/decisions', '/api/hooks/decisions', 200);
    await send('get', `/api/hooks/decisions/${decision.id}`, '/api/hooks/decisions/{decisionId}', 200);
    const delivery = await createDelivery(t.dataSource, { subscriptionId: id, organizationId: customerId, eventType: 'post.user.create', state: DeliveryState.Failed });
    await createAttempt(t.dataSource, { deliveryId: delivery.id, success: false, errorClass: DeliveryErrorClass.Http });
    await send('get', `/api/hooks/${id}/deliveries`, '/api/hooks/{id}/deliveries', 200);
    await send('get', `/api/hooks/deliveries/${delivery.id}`, '/api/hooks/deliveries/{deliveryId}', 200);
    await send('post', `/api/hooks/deliveries/${delivery.id}/redeliver`, '/api/hooks/deliveries/{deliveryId}/redeliver', 201);
    check('/api/hooks');
  });

  it("actions: the ledger, capabilities, applicabilities, handlers and the handlers' REST reads", async () => {
    const setup = await createHandlerSetup(t.dataSource, customerId);
    const action = await send('post', '/api/actions', '/api/actions', 201, { organization_id: customerId, capability: 'ExecuteCommand', parameters: { Command: 'uptime' } });
    await send('get', '/api/actions', '/api/actions', 200);
    await send('get', `/api/actions/${String(action.id)}`, '/api/actions/{id}', 200);
    const capability = await send('post', '/api/actions/capabilities', '/api/actions/capabilities', 201, { organization_id: customerId, name: 'Reboot', mandatory_parameters: ['Host'] });
    await send('get', '/api/actions/capabilities', '/api/actions/capabilities', 200);
    await send('get', `/api/actions/capabilities/${String(capability.id)}`, '/api/actions/capabilities/{id}', 200);
    await send('patch', `/api/actions/capabilities/${String(capability.id)}`, '/api/actions/capabilities/{id}', 200, { description: 'Restarts a host' });
    const body = { handler_id: setup.handler.id, capability_id: String(capability.id), parameters: { Timeout: 30 } };
    await send('post', '/api/actions/applicabilities', '/api/actions/applicabilities', 201, body);
    await send('get', '/api/actions/applicabilities', '/api/actions/applicabilities', 200);
    const handler = await send('post', '/api/actions/handlers', '/api/actions/handlers', 201, { organization_id: customerId, name: 'second' });
    await send('get', '/api/actions/handlers', '/api/actions/handlers', 200);
    await send('get', `/api/actions/handlers/${String(handler.id)}`, '/api/actions/handlers/{id}', 200);
    await send('post', `/api/actions/handlers/${String(handler.id)}/revoke`, '/api/actions/handlers/{id}/revoke', 200);
    const bearer = { authorization: `Bearer ${setup.token}` };
    await send('get', '/api/action/1.0/capabilities', '/api/action/1.0/capabilities', 200, undefined, bearer);
    await send('get', '/api/action/1.0/applicabilities', '/api/action/1.0/applicabilities', 200, undefined, bearer);
    check('/api/actions');
    check('/api/action/1.0');
  });

  it('s3-events: sources with both kinds of action, confirmations, the intake, inbox records with their action attempts, replay', async () => {
    const replicate = { type: 'replicate', endpoint: 'http://127.0.0.1:9', region: 'ru-msk', bucket: 'backup', access_key_id: 'AK', secret_access_key: 'SK' };
    const actions = [recorderAction(recorder), { ...replicate, source: { endpoint: 'http://127.0.0.1:9', region: 'ru-msk', access_key_id: 'AK2', secret_access_key: 'SK2' } }];
    const both = await send('post', '/api/s3-events/sources', '/api/s3-events/sources', 201, { organization_id: customerId, name: 'both', public_url: 'http://test.com', allowed_buckets: ['bucketA'], actions });
    const id = String(both.id);
    await send('post', String(both.intake_path), '/s3-events/{token}', 200, PUBLISHED_CONFIRMATION);
    await send('get', `/api/s3-events/sources/${id}/confirmations`, '/api/s3-events/sources/{id}/confirmations', 200);
    await send('patch', `/api/s3-events/sources/${id}`, '/api/s3-events/sources/{id}', 200, { actions: [replicate], enabled: false });
    await send('post', `/api/s3-events/sources/${id}/rotate-token`, '/api/s3-events/sources/{id}/rotate-token', 200);
    // Only the command action runs for the event: it finishes at once, and the record can be replayed.
    const commands = await send('post', '/api/s3-events/sources', '/api/s3-events/sources', 201, { name: 'commands', allowed_buckets: ['bucketA'], actions: [recorderAction(recorder)] });
    await send('post', String(commands.intake_path), '/s3-events/{token}', 200, notification({ key: 'a.txt', size: 12 }));
    await send('get', '/api/s3-events/sources', '/api/s3-events/sources', 200);
    await send('get', `/api/s3-events/sources/${id}`, '/api/s3-events/sources/{id}', 200);
    const inbox = `/api/s3-events/inbox?source_id=${String(commands.id)}`;
    const [record] = (await eventually(async () => (await request(t.server).get(inbox).set('x-cyberapp-auth', auth)).body as { items: Json[] }, (page) => page.items[0]?.state === 'done')).items;
    await send('get', inbox, '/api/s3-events/inbox', 200);
    await send('get', `/api/s3-events/inbox/${String(record.id)}`, '/api/s3-events/inbox/{id}', 200);
    await send('post', `/api/s3-events/inbox/${String(record.id)}/replay`, '/api/s3-events/inbox/{id}/replay', 202);
    // The replay runs the command again: let it finish before the app closes.
    await eventually(async () => (await request(t.server).get(`/api/s3-events/inbox/${String(record.id)}`).set('x-cyberapp-auth', auth)).body as Json, (r) => r.state === 'done');
    expect(answers.filter((a) => a.path === '/api/s3-events/inbox/{id}').map((a) => (a.body as Json).action_attempts)).toEqual([[expect.objectContaining({ action_type: 'command', success: true })]]);
    check('/api/s3-events');
    check('/s3-events/{token}');
  });

  it('webhooks (the pattern the others follow): subscriptions, secrets, tests and deliveries', async () => {
    const subscription = await send('post', '/api/webhooks', '/api/webhooks', 201, { name: 'all', payload_url: NOWHERE, ssl_verification: false, filters: [{ mode: 'Include', match: 'Prefix', value: 'user.' }] });
    const id = String(subscription.id);
    await send('get', '/api/webhooks', '/api/webhooks', 200);
    await send('get', `/api/webhooks/${id}`, '/api/webhooks/{id}', 200);
    await send('patch', `/api/webhooks/${id}`, '/api/webhooks/{id}', 200, { description: 'every user event' });
    await send('post', `/api/webhooks/${id}/rotate-secret`, '/api/webhooks/{id}/rotate-secret', 200, {});
    await send('post', `/api/webhooks/${id}/test`, '/api/webhooks/{id}/test', 200, {});
    const delivery = await createDelivery(t.dataSource, { subscriptionId: id, organizationId: rootId, state: DeliveryState.Failed });
    await createAttempt(t.dataSource, { deliveryId: delivery.id, success: false, errorClass: DeliveryErrorClass.Http });
    await send('get', `/api/webhooks/deliveries?subscription_id=${id}`, '/api/webhooks/deliveries', 200);
    await send('get', `/api/webhooks/deliveries/${delivery.id}`, '/api/webhooks/deliveries/{id}', 200);
    await send('post', `/api/webhooks/deliveries/${delivery.id}/redeliver`, '/api/webhooks/deliveries/{id}/redeliver', 202);
    check('/api/webhooks');
  });

  it('documents an answer schema for every operation of these modules that answers a body', () => {
    const undocumented = Object.entries(doc.paths)
      .filter(([path]) => MODULES.some((prefix) => path.startsWith(prefix)))
      .flatMap(([path, item]) =>
        Object.entries(item).flatMap(([method, operation]) =>
          Object.entries(operation.responses)
            .filter(([status]) => /^2\d\d$/.test(status) && status !== '204')
            .filter(([, response]) => !response.content?.['application/json']?.schema)
            .map(([status]) => `${method.toUpperCase()} ${path} ${status}`),
        ),
      );
    expect(undocumented).toEqual([]);
    // Each operation documents at least one success answer.
    const withoutSuccess = Object.entries(doc.paths)
      .filter(([path]) => MODULES.some((prefix) => path.startsWith(prefix)))
      .flatMap(([path, item]) => Object.entries(item).filter(([, operation]) => !Object.keys(operation.responses).some((s) => /^2\d\d$/.test(s))).map(([method]) => `${method.toUpperCase()} ${path}`));
    expect(withoutSuccess).toEqual([]);
  });
});

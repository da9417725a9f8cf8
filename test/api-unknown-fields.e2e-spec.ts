import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createHandlerSetup, createCapability, HandlerSetup } from './factories/actions';
import { createHook } from './factories/hooks';
import { createTree, Tree } from './factories/organizations';
import { createSource, CreatedSource } from './factories/s3-events';
import { createDelivery, createSubscription } from './factories/webhooks';
import { HookOperation } from '../src/hooks/hook-operation';
import { callback, errorEnvelope } from './setup/callback-client';
import { createTestApp, TestApp } from './setup/create-test-app';
import { cyberAppAuth } from './setup/protocol';
import { snapshot } from './setup/snapshot';

type Json = Record<string, unknown>;
type Method = 'post' | 'patch' | 'delete';

interface BodyRoute {
  route: string;
  method: Method;
  path: () => string;
  /** A body the route accepts (sent last, to prove the refusals were about the unknown field alone). */
  valid: () => Json;
  /** Bodies with one unknown field each, and the path of that field as the error must name it. */
  unknown: Array<[where: string, body: () => Json, field: string]>;
}

/**
 * Every management API under /api refuses a body field it does not know, at any depth, with 400
 * naming it and nothing stored: a typo must not change what a request means (`scpoe` creating a
 * Local subscription, a misspelt `secret` getting a generated one). Callbacks keep ignoring
 * unknown payload fields: the platform may add some.
 */
describe('unknown body fields on the management APIs', () => {
  let t: TestApp;
  let tree: Tree;
  let auth: string;
  let subscriptionId: string;
  let deliveryId: string;
  let hookId: string;
  let source: CreatedSource;
  let actions: HandlerSetup;
  let spareCapabilityId: string;

  beforeAll(async () => {
    t = await createTestApp({
      WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8',
      WEBHOOKS_WORKER_ENABLED: 'false',
      S3_EVENTS_ALLOWED_PRIVATE: '127.0.0.1/8',
      S3_EVENTS_ALLOWED_COMMANDS: '/bin/true',
    });
    tree = await createTree(t.dataSource);
    auth = cyberAppAuth('partner', tree.password);
    subscriptionId = (await createSubscription(t.dataSource, { organizationId: tree.partner.id })).id;
    deliveryId = (await createDelivery(t.dataSource, { subscriptionId })).id;
    hookId = (await createHook(t.dataSource, { organizationId: tree.partner.id, url: 'http://127.0.0.1:9/approve', operations: [HookOperation.UserCreate] })).id;
    source = await createSource(t, auth, { name: 'bucket events', allowed_buckets: ['b'] });
    actions = await createHandlerSetup(t.dataSource, tree.partner.id);
    spareCapabilityId = (await createCapability(t.dataSource, tree.partner.id, { name: 'Spare' })).id;
  });
  afterAll(() => t.close());

  const send = (method: Method, path: string, body?: unknown) => {
    const req = request(t.server)[method](path).set('X-CyberApp-Auth', auth);
    return body === undefined ? req : req.send(body as object);
  };

  const filter = { mode: 'Include', match: 'Prefix', value: 'user.' };
  const replicate = (extra: Json = {}, sourceExtra: Json = {}): Json => ({
    type: 'replicate',
    endpoint: 'http://127.0.0.1:9000',
    region: 'ru-msk',
    bucket: 'backup',
    access_key_id: 'AK',
    secret_access_key: 'SK',
    source: { endpoint: 'http://127.0.0.1:9001', region: 'ru-msk', access_key_id: 'AK2', secret_access_key: 'SK2', ...sourceExtra },
    ...extra,
  });
  const alert = (extra: Json = {}, details: Json = {}): Json => ({
    type: 'cti.a.p.am.alert.v1.0~a.p.basic.v1.0~vendor.app.malware_detected.v1.0',
    category: 'cti.a.p.am.category.v1.0~vendor.app.protection.v1.0',
    details: { title: 'Malware Quarantined', category: 'Malware Detected', description: 'Quarantined.', fields: { 'Any key': 'is fine' }, ...details },
    ...extra,
  });
  const workload = (extra: Json = {}): Json => ({
    key: 'device-1',
    type: 'cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.virtual_machine.v1.0',
    name: 'vm-1',
    attributes: { any: 'attribute' },
    ...extra,
  });
  const intake = (items: Json[], extra: Json = {}): Json => ({ organization_id: tree.customers[0].id, items, ...extra });
  const item = (kind: string, body: Json, extra: Json = {}): Json => ({ idempotency_key: randomUUID(), kind, [kind]: body, ...extra });

  const routes: BodyRoute[] = [
    {
      route: 'POST /api/webhooks',
      method: 'post',
      path: () => '/api/webhooks',
      valid: () => ({ name: 'CRM', payload_url: 'http://127.0.0.1:9/hook', ssl_verification: false, scope: 'Domain', filters: [filter] }),
      unknown: [
        ['at the top', () => ({ name: 'CRM', payload_url: 'http://127.0.0.1:9/hook', ssl_verification: false, scpoe: 'Domain' }), 'scpoe'],
        ['in a filter', () => ({ name: 'CRM', payload_url: 'http://127.0.0.1:9/hook', ssl_verification: false, filters: [filter, { ...filter, vaule: 'x' }] }), 'filters.1.vaule'],
      ],
    },
    {
      route: 'PATCH /api/webhooks/:id',
      method: 'patch',
      path: () => `/api/webhooks/${subscriptionId}`,
      valid: () => ({ description: 'changed', filters: [filter] }),
      unknown: [
        ['at the top', () => ({ description: 'changed', scpoe: 'Domain' }), 'scpoe'],
        ['in a filter', () => ({ filters: [{ ...filter, Mode: 'Exclude' }] }), 'filters.0.Mode'],
      ],
    },
    {
      route: 'POST /api/webhooks/:id/rotate-secret',
      method: 'post',
      path: () => `/api/webhooks/${subscriptionId}/rotate-secret`,
      valid: () => ({ secret: 'my-own-secret' }),
      unknown: [['at the top (a misspelt secret)', () => ({ secert: 'my-own-secret' }), 'secert']],
    },
    {
      route: 'POST /api/webhooks/:id/test',
      method: 'post',
      // `payload` is sent as is: its keys are the caller's, never "unknown".
      path: () => `/api/webhooks/${subscriptionId}/test`,
      valid: () => ({ payload: { anything: { goes: true } } }),
      unknown: [['at the top', () => ({ paylaod: { a: 1 } }), 'paylaod']],
    },
    {
      route: 'POST /api/hooks',
      method: 'post',
      path: () => '/api/hooks',
      valid: () => ({ url: 'http://127.0.0.1:9/approve', ssl_verification: false, operations: ['user.create'], failure_policy: 'fail-open' }),
      unknown: [['at the top', () => ({ url: 'http://127.0.0.1:9/approve', ssl_verification: false, operations: ['user.create'], failure_polcy: 'fail-open' }), 'failure_polcy']],
    },
    {
      route: 'PATCH /api/hooks/:id',
      method: 'patch',
      path: () => `/api/hooks/${hookId}`,
      valid: () => ({ timeout_ms: 1000 }),
      unknown: [['at the top', () => ({ timeout: 1000, enabled: false }), 'timeout']],
    },
    {
      route: 'POST /api/hooks/:id/rotate-secret',
      method: 'post',
      path: () => `/api/hooks/${hookId}/rotate-secret`,
      valid: () => ({ secret: 'my-own-secret' }),
      unknown: [['at the top (a misspelt secret)', () => ({ Secret: 'my-own-secret' }), 'Secret']],
    },
    {
      route: 'POST /api/s3-events/sources',
      method: 'post',
      path: () => '/api/s3-events/sources',
      valid: () => ({ name: 'mirror', allowed_buckets: ['b'], actions: [replicate(), { type: 'command', command: ['/bin/true'], timeout_ms: 1000 }] }),
      unknown: [
        ['at the top', () => ({ name: 'mirror', allowed_buckets: ['b'], enabeld: false }), 'enabeld'],
        ['in a replicate action', () => ({ name: 'mirror', allowed_buckets: ['b'], actions: [replicate({ buckt: 'x' })] }), 'actions.0.buckt'],
        ['in the source endpoint of an action', () => ({ name: 'mirror', allowed_buckets: ['b'], actions: [replicate({}, { regoin: 'x' })] }), 'actions.0.source.regoin'],
        ['in a command action', () => ({ name: 'mirror', allowed_buckets: ['b'], actions: [{ type: 'command', command: ['/bin/true'], timeout: 5 }] }), 'actions.0.timeout'],
      ],
    },
    {
      route: 'PATCH /api/s3-events/sources/:id',
      method: 'patch',
      path: () => `/api/s3-events/sources/${source.id}`,
      valid: () => ({ name: 'renamed', actions: [replicate()] }),
      unknown: [
        ['at the top', () => ({ nmae: 'renamed' }), 'nmae'],
        ['in an action', () => ({ actions: [replicate({ force_path_stlye: true })] }), 'actions.0.force_path_stlye'],
      ],
    },
    {
      route: 'POST /api/actions/capabilities',
      method: 'post',
      path: () => '/api/actions/capabilities',
      valid: () => ({ name: 'RestartService', mandatory_parameters: ['Service'] }),
      unknown: [['at the top', () => ({ name: 'RestartService', mandatory_params: ['Service'] }), 'mandatory_params']],
    },
    {
      route: 'PATCH /api/actions/capabilities/:id',
      method: 'patch',
      path: () => `/api/actions/capabilities/${actions.capability.id}`,
      valid: () => ({ description: 'Runs a command' }),
      unknown: [['at the top', () => ({ descripton: 'Runs a command' }), 'descripton']],
    },
    {
      route: 'POST /api/actions/applicabilities',
      method: 'post',
      // `parameters` are the capability's parameter values: free-form.
      path: () => '/api/actions/applicabilities',
      valid: () => ({ handler_id: actions.handler.id, capability_id: spareCapabilityId, parameters: { Host: 'srv1' } }),
      unknown: [['at the top', () => ({ handler_id: actions.handler.id, capability_id: spareCapabilityId, parametres: { Host: 'srv1' } }), 'parametres']],
    },
    {
      route: 'POST /api/actions/handlers',
      method: 'post',
      path: () => '/api/actions/handlers',
      valid: () => ({ name: 'datacenter-2' }),
      unknown: [['at the top', () => ({ name: 'datacenter-2', organisation_id: tree.customers[0].id }), 'organisation_id']],
    },
    {
      route: 'POST /api/actions',
      method: 'post',
      path: () => '/api/actions',
      valid: () => ({ capability: 'ExecuteCommand', parameters: { Command: 'uptime' }, timeout_ms: 60_000 }),
      unknown: [['at the top', () => ({ capability: 'ExecuteCommand', parameters: { Command: 'uptime' }, timeout: 60_000 }), 'timeout']],
    },
    {
      route: 'POST /api/connector/items',
      method: 'post',
      path: () => '/api/connector/items',
      valid: () => {
        // The dismissal and the removal name the alert and the workload of the same batch.
        const [alertItem, workloadItem] = [item('alert', alert()), item('workload', workload())];
        const { type, key } = workloadItem.workload as Json;
        return intake([alertItem, workloadItem, item('alert_dismissal', { alert_key: alertItem.idempotency_key }), item('workload_removal', { type, key })]);
      },
      unknown: [
        ['at the top', () => intake([item('alert', alert())], { send_nwo: true }), 'send_nwo'],
        ['in an item', () => intake([item('alert', alert()), item('alert', alert(), { note: 'x' })]), 'items.1.note'],
        ['in an alert', () => intake([item('alert', alert({ severity: 'critical' }))]), 'items.0.alert.severity'],
        ['in the details of an alert', () => intake([item('alert', alert({}, { titel: 'x' }))]), 'items.0.alert.details.titel'],
        ['in a workload', () => intake([item('workload', workload({ allowed_action: ['reboot'] }))]), 'items.0.workload.allowed_action'],
        ['in an alert dismissal', () => intake([item('alert_dismissal', { alert_key: 'k', reason: 'x' })]), 'items.0.alert_dismissal.reason'],
        ['in a workload removal', () => intake([item('workload_removal', { type: 'x', key: 'k', id: 'x' })]), 'items.0.workload_removal.id'],
      ],
    },
  ];

  describe.each(routes)('$route', ({ method, path, valid, unknown }) => {
    it.each(unknown)('refuses an unknown field %s with 400 naming it, storing nothing', async (_where, body, field) => {
      const before = await snapshot(t.dataSource);
      const res = await send(method, path(), body()).expect(400);
      expect(res.body).toEqual(errorEnvelope('VALIDATION_FAILED'));
      expect(res.body.err_message).toContain(`unknown field ${field}`);
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('accepts the same body without the unknown field', async () => {
      const res = await send(method, path(), valid());
      expect(res.status < 300 ? 'accepted' : res.body).toBe('accepted');
    });
  });

  describe('routes that take no body', () => {
    const bodyless: Array<[route: string, method: Method, path: () => string]> = [
      ['DELETE /api/webhooks/:id', 'delete', () => `/api/webhooks/${subscriptionId}`],
      ['DELETE /api/webhooks/deliveries?subscription_id=…', 'delete', () => `/api/webhooks/deliveries?subscription_id=${subscriptionId}`],
      ['DELETE /api/webhooks/deliveries/:id', 'delete', () => `/api/webhooks/deliveries/${deliveryId}`],
      ['POST /api/webhooks/deliveries/:id/redeliver', 'post', () => `/api/webhooks/deliveries/${deliveryId}/redeliver`],
      ['DELETE /api/hooks/:id', 'delete', () => `/api/hooks/${hookId}`],
      ['POST /api/hooks/deliveries/:id/redeliver', 'post', () => `/api/hooks/deliveries/${randomUUID()}/redeliver`],
      ['DELETE /api/s3-events/sources/:id', 'delete', () => `/api/s3-events/sources/${source.id}`],
      ['POST /api/s3-events/sources/:id/rotate-token', 'post', () => `/api/s3-events/sources/${source.id}/rotate-token`],
      ['POST /api/s3-events/inbox/:id/replay', 'post', () => `/api/s3-events/inbox/${randomUUID()}/replay`],
      ['DELETE /api/actions/capabilities/:id', 'delete', () => `/api/actions/capabilities/${actions.capability.id}`],
      ['DELETE /api/actions/applicabilities/:id', 'delete', () => `/api/actions/applicabilities/${actions.applicability.id}`],
      ['POST /api/actions/handlers/:id/revoke', 'post', () => `/api/actions/handlers/${actions.handler.id}/revoke`],
    ];

    it.each(bodyless)('%s refuses any field with 400 naming it, changing nothing', async (_route, method, path) => {
      const before = await snapshot(t.dataSource);
      const res = await send(method, path(), { token: 'my-own-token' }).expect(400);
      expect(res.body).toEqual(errorEnvelope('VALIDATION_FAILED'));
      expect(res.body.err_message).toContain('unknown field token');
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('takes an empty object where it takes no body', async () => {
      const res = await send('post', `/api/s3-events/sources/${source.id}/rotate-token`, {}).expect(200);
      expect(res.body.token).toEqual(expect.any(String));
    });
  });

  it('names an odd field name quoted and cut short', async () => {
    const name = `x y${'z'.repeat(200)}`;
    const res = await send('post', '/api/actions/handlers', { name: 'h', [name]: 1 }).expect(400);
    expect(res.body.err_message).toContain(`unknown field ${JSON.stringify(name.slice(0, 64))}`);
    expect(res.body.err_message).not.toContain(name);
  });

  it('leaves callbacks ignoring unknown payload fields (the platform may add some)', async () => {
    await callback(t, { login: 'partner', password: tree.password }, 'users_read', { a_field_from_a_newer_platform: true }).expect(200);
  });
});

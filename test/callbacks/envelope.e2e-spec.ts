import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { callbacksConfig } from '../../src/config/callbacks.config';
import { OrganizationMapping } from '../../src/tenant-mapping/organization-mapping.entity';
import { createTree, Tree } from '../factories/organizations';
import { callback, Credentials, errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp, withEnv } from '../setup/create-test-app';
import { cyberAppAuth, ENDPOINT_ID_V1_1, envelope, responseType } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

/**
 * The envelope as the Acronis guide's examples send it: v1.x endpoint ids and request types, v1.0
 * and v2.0 callback ids, any RFC 3339 created_at; the data-center allow-list on every callback;
 * and ENABLEMENT_METHODS.
 */
describe('callback envelope versions', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;

  beforeAll(async () => {
    t = await createTestApp();
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
  });
  afterAll(() => t.close());

  it('accepts a v1.1 endpoint id', async () => {
    const res = await callback(t, partner, 'enablement.read', undefined, { endpointId: ENDPOINT_ID_V1_1 }).expect(200);
    expect(res.body.payload).toEqual({ vendor_tenant_id: tree.partner.id });
  });

  it.each([['v1.1'], ['v2.0']])('routes a %s callback id to the v1.0 callback, which answers its v1.0 response type as before', async (version) => {
    const res = await callback(t, partner, 'enablement.read', undefined, { callbackVersion: version }).expect(200);
    expect(res.body.type).toBe(responseType('a.p.enablement.read.ok.v1.0'));
  });

  it('accepts a v1.1 request type for a v1.0 callback', async () => {
    const res = await callback(t, partner, 'topology.read', {}, { requestVersion: 'v1.1' }).expect(200);
    expect(res.body.type).toBe(responseType('a.p.topology.read.ok.v1.0'));
  });

  it.each([['0001-01-01T00:00:00Z'], ['0001-01-01 00:00:00'], ['2024-05-17T13:46:29.362Z'], ['2016-12-31T23:59:60Z'], ['2023-04-10T15:33:01+00:00']])('accepts created_at %s', async (createdAt) => {
    await callback(t, partner, 'enablement.read', undefined, { createdAt }).expect(200);
  });

  it.each([['0001-01-01T00:00:00+25:00'], ['2023-02-29T00:00:00Z'], ['2023-01-01T24:00:00Z'], ['01-01-0001']])('refuses created_at %s with 400 naming the field', async (createdAt) => {
    const res = await callback(t, partner, 'enablement.read', undefined, { createdAt }).expect(400);
    expect(res.body).toMatchObject(errorEnvelope('MALFORMED_REQUEST', res.body.request_id));
    expect(res.body.err_message).toContain('created_at must be an RFC 3339 date-time');
  });

  it.each([['v3.0'], ['v2.1'], ['v0.9']])('answers "Callback not found." for a %s callback id', async (version) => {
    const res = await callback(t, partner, 'enablement.read', undefined, { callbackVersion: version }).expect(400);
    expect(res.body).toMatchObject({ ...errorEnvelope('CALLBACK_NOT_FOUND', res.body.request_id), err_message: 'Callback not found.' });
  });

  it('refuses a v2.0 request type', async () => {
    const res = await callback(t, partner, 'enablement.read', undefined, { requestVersion: 'v2.0' }).expect(400);
    expect(res.body).toMatchObject(errorEnvelope('REQUEST_TYPE_MISMATCH', res.body.request_id));
    expect(res.body.err_message).toContain('cti.a.p.acgw.request.v1.0~a.p.empty.v1.0');
  });
});

describe('data-center allow-list on callbacks (ACRONIS_DC_ALLOWED_HOSTS)', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;
  let before: Record<string, unknown[]>;

  beforeAll(async () => {
    t = await createTestApp({ ACRONIS_DC_ALLOWED_HOSTS: '*.acronis.com,*.acronis.cloud,dc.vendor-lab.test' });
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
  });
  beforeEach(async () => {
    before = await snapshot(t.dataSource);
  });
  afterAll(() => t.close());

  const refused: Array<[string, string]> = [
    ['a host outside the list', 'https://dc.evil.example'],
    ['a look-alike domain', 'https://eu8-cloud.acronis.com.evil.example'],
    ['plain HTTP to an allowed host', 'http://eu8-cloud.acronis.com'],
    ['credentials in the URL', 'https://user:secret@eu8-cloud.acronis.com'],
    ['a query', 'https://eu8-cloud.acronis.com/?next=x'],
    ['something that is not a URL', 'eu8-cloud.acronis.com'],
  ];

  it.each(refused)('refuses enablement.write naming %s, with 400 and nothing changed', async (_, url) => {
    const res = await callback(t, partner, 'enablement.write', { acronis_tenant_id: randomUUID() }, { datacenterUrl: url }).expect(400);
    expect(res.body).toMatchObject(errorEnvelope('DATACENTER_NOT_ALLOWED', res.body.request_id));
    expect(res.body.err_message).toMatch(/^Invalid request: context\.datacenter_url /);
    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it('names the host and the setting in the message', async () => {
    const res = await callback(t, partner, 'enablement.write', { acronis_tenant_id: randomUUID() }, { datacenterUrl: 'https://dc.evil.example' }).expect(400);
    expect(res.body.err_message).toBe('Invalid request: context.datacenter_url host dc.evil.example is not an allowed Acronis data center (ACRONIS_DC_ALLOWED_HOSTS).');
  });

  it('refuses tenant_mapping.write naming a data center outside the list', async () => {
    const payload = { modified: [{ vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: randomUUID() }] };
    const res = await callback(t, partner, 'tenant_mapping.write', payload, { datacenterUrl: 'https://dc.evil.example' }).expect(400);
    expect(res.body.code).toBe('DATACENTER_NOT_ALLOWED');
    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it('refuses read callbacks too (checked for every callback, in one place)', async () => {
    const res = await callback(t, partner, 'tenant_mapping.read', undefined, { datacenterUrl: 'https://dc.evil.example' }).expect(400);
    expect(res.body.code).toBe('DATACENTER_NOT_ALLOWED');
  });

  it('accepts a host the setting adds, a trailing slash, and a callback without datacenter_url', async () => {
    const tenant = randomUUID();
    await callback(t, partner, 'enablement.write', { acronis_tenant_id: tenant }, { datacenterUrl: 'https://dc.vendor-lab.test/' }).expect(200);
    expect(await t.dataSource.manager.findOneBy(OrganizationMapping, { acronisTenantId: tenant })).toMatchObject({ acronisDcUrl: 'https://dc.vendor-lab.test' });
    const body = envelope('enablement.read');
    delete (body.context as Record<string, unknown>).datacenter_url;
    await request(t.server).post('/callback').set('X-CyberApp-Auth', cyberAppAuth(partner.login, partner.password)).send(body).expect(200);
  });
});

describe('ENABLEMENT_METHODS', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;

  beforeAll(async () => {
    t = await createTestApp({ ENABLEMENT_METHODS: 'mirrored_partner, mirrored_customers' });
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
  });
  afterAll(() => t.close());

  it.each([
    ['enablement.read', 'mapped_partner'],
    ['enablement.reset', 'mapped_partner'],
    ['topology.read', 'mapped_customers'],
    ['tenant_mapping.read', 'mapped_customers'],
  ] as const)('answers %s of a method switched off with 404 ENABLEMENT_METHOD_OFF naming the method', async (name, method) => {
    const before = await snapshot(t.dataSource);
    const res = await callback(t, partner, name, name === 'topology.read' ? {} : undefined).expect(404);
    expect(res.body).toMatchObject(errorEnvelope('ENABLEMENT_METHOD_OFF', res.body.request_id));
    expect(res.body.err_message).toBe(`This CyberApp does not serve the ${method} enablement method (ENABLEMENT_METHODS).`);
    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it('still serves the custom callbacks, which belong to no method', async () => {
    await callback(t, partner, 'users_read', {}).expect(200);
  });

  it('still serves the methods it names', async () => {
    await callback(t, partner, 'partner.mirroring.get_state').expect(200);
  });

  // Checked on the config factory, not by booting (see the platform JWT spec).
  it.each([['mapped_partner,mirrored'], ['mapped'], [' , ']])('stops the boot on ENABLEMENT_METHODS=%j with a message naming the variable', async (value) => {
    await expect(withEnv({ ENABLEMENT_METHODS: value }, () => Promise.resolve().then(() => callbacksConfig()))).rejects.toThrow(
      /ENABLEMENT_METHODS=.*(unknown method|name at least one).*mapped_partner, mapped_customers, mirrored_partner, mirrored_customers/,
    );
  });

  it('serves every method when ENABLEMENT_METHODS is not set', async () => {
    const config = await withEnv({ ENABLEMENT_METHODS: undefined }, () => Promise.resolve().then(() => callbacksConfig()));
    expect([...config.enablementMethods].sort()).toEqual(['mapped_customers', 'mapped_partner', 'mirrored_customers', 'mirrored_partner']);
  });
});

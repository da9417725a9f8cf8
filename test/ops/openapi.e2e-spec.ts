import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { exportJWK, generateKeyPair, KeyLike, SignJWT } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { EXAMPLE_IDS } from '../../src/callbacks/callback-example';
import { CallbackRegistry } from '../../src/callbacks/callback-registry.service';
import { MirroredCustomer } from '../../src/mirroring/mirrored-customer.entity';
import { MirroringState } from '../../src/mirroring/mirroring-state';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { User } from '../../src/users/user.entity';
import { createHandlerSetup } from '../factories/actions';
import { createOrganization, createUser } from '../factories/organizations';
import { errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

type Json = Record<string, unknown>;
type Security = Array<Record<string, string[]>>;

interface Operation {
  security?: Security;
  description?: string;
  requestBody?: { content: Record<string, { schema: { $ref: string }; examples?: Record<string, { summary: string; value: Json }> }> };
  responses: Record<string, { content?: Record<string, { schema?: unknown; examples?: Record<string, { summary: string; value: Json }> }> }>;
}

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, Record<string, unknown>>; schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
}

const PASSWORD = 'partner-password';
const METRICS_TOKEN = 'metrics-secret-token';
/** Probes send many requests without credentials from one address. */
const PROBE_ENV = { AUTH_FAILURES_PER_ADDRESS: '100000', AUTH_FAILURES_PER_IDENTITY_ADDRESS: '100000' };

/**
 * The order in which the callback examples are sent to the app: each one's answer depends on the
 * ones before (enablement.write maps the tenant that enablement.read then shows). Every callback
 * the registry serves must be here: a new handler's example is sent too.
 */
const STORY = [
  'a.p.enablement.write.v1.0',
  'a.p.enablement.read.v1.0',
  'a.p.topology.read.v1.0',
  'a.p.tenant_mapping.write.v1.0',
  'a.p.tenant_mapping.read.v1.0',
  'vendor.app.users_read.v1.0',
  'vendor.app.user_write.v1.0',
  'vendor.app.user_update.v1.0',
  'vendor.app.reset_password.v1.0',
  'vendor.app.action_submit.v1.0',
  'vendor.app.user_delete.v1.0',
  'a.p.enablement.reset.v1.0',
  'a.p.partner.mirroring.enable.v1.0',
  'a.p.partner.mirroring.get_state.v1.0',
  'a.p.customer.mirroring.set_state.v1.0',
  'a.p.customer.mirroring.get_state.v1.0',
  'a.p.partner.mirroring.reset.v1.0',
];

const shortId = (callbackId: string): string => callbackId.slice(callbackId.indexOf('~') + 1);

const bodySchemaRef = (operation: Operation): unknown => operation.requestBody?.content['application/json'].schema.$ref;

/** The JSON shape of a value: object keys (sorted) and value kinds, arrays by their first element. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])];
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shape((value as Json)[k])]));
  }
  return value === null ? 'null' : typeof value;
}

/** A stand-in for the Acronis IdP's key set, and tokens signed as the platform signs them. */
class PlatformKeys {
  private constructor(
    private readonly server: Server,
    private readonly privateKey: KeyLike,
  ) {}

  static async start(): Promise<PlatformKeys> {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new PlatformKeys(server, privateKey);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/keys`;
  }

  token(endpointId: string): Promise<string> {
    return new SignJWT({ scope: [{ role: endpointId }], sub_type: 'platform-acgw' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer('https://acronis.cloud')
      .setAudience('acronis.cloud')
      .setExpirationTime('10m')
      .sign(this.privateKey);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The example world: the organizations, user and action handler the callback examples name. */
async function createExampleWorld(t: TestApp): Promise<{ auth: string; handlerToken: string }> {
  const ds = t.dataSource;
  await createOrganization(ds, { id: EXAMPLE_IDS.partnerOrganization, name: EXAMPLE_IDS.partnerName });
  await createUser(ds, { organizationId: EXAMPLE_IDS.partnerOrganization, login: 'partner', password: PASSWORD });
  await createOrganization(ds, { id: EXAMPLE_IDS.customerOrganization, name: EXAMPLE_IDS.customerName, kind: OrganizationKind.Customer, parentId: EXAMPLE_IDS.partnerOrganization });
  await createUser(ds, { id: EXAMPLE_IDS.user, organizationId: EXAMPLE_IDS.customerOrganization, login: 'jane.doe', name: 'Jane Doe', email: 'jane.doe@example.com' });
  const setup = await createHandlerSetup(ds, EXAMPLE_IDS.customerOrganization);
  return { auth: cyberAppAuth('partner', PASSWORD), handlerToken: setup.token };
}

async function fetchDocument(t: TestApp): Promise<OpenApiDocument> {
  const res = await request(t.server).get('/api/docs-json').expect(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return res.body as OpenApiDocument;
}

const callbackExamples = (doc: OpenApiDocument, where: 'request' | 'response'): Record<string, { summary: string; value: Json }> => {
  const operation = doc.paths['/callback'].post;
  const content = where === 'request' ? operation.requestBody?.content['application/json'] : operation.responses['200'].content?.['application/json'];
  return content?.examples ?? {};
};

/** Every (method, path) of the document. */
function operations(doc: OpenApiDocument): Array<{ method: string; path: string; operation: Operation }> {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => ({ method, path, operation })));
}

/** Every route Nest serves, as `METHOD /path/{param}`, from the controllers' own metadata. */
/** Every route Nest serves: the API ones, and (`console: true`) the browser console's HTML pages, which the document leaves out on purpose. */
function servedRoutes(t: TestApp, { console: consoleRoutes = false } = {}): string[] {
  const routes: string[] = [];
  for (const wrapper of t.app.get(DiscoveryService).getControllers()) {
    const controller = wrapper.metatype as (new () => object) | null;
    if (!controller) continue;
    const prefix = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
    if (/^\/?console(\/|$)/.test(prefix) !== consoleRoutes) continue;
    const prototype = controller.prototype as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const handler = prototype[name];
      if (name === 'constructor' || typeof handler !== 'function') continue;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (method === undefined) continue;
      const path = `/${[prefix, String(Reflect.getMetadata(PATH_METADATA, handler) ?? '')].join('/')}`.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
      routes.push(`${RequestMethod[method]} ${path.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}

interface Credentials {
  /** Headers carrying each scheme's valid credential. */
  schemes: Record<string, Record<string, string>>;
  /** A body for POST /callback that passes the envelope check (the platform JWT is checked against it). */
  callbackBody: Json;
}

/**
 * Checks every operation of the document against the running app: without credentials a secured
 * operation answers 401 and a public one does not; with every credential its security lists it
 * gets past authentication; without any one of them, or with another scheme's credential only, 401.
 */
async function probeSecurity(t: TestApp, doc: OpenApiDocument, credentials: Credentials): Promise<void> {
  const failures: string[] = [];
  const send = async (method: string, path: string, headers: Record<string, string>): Promise<{ status: number; code?: string }> => {
    const url = path.replace(/\{token\}/g, randomBytes(32).toString('base64url')).replace(/\{[^}]+\}/g, () => randomUUID());
    const req = request(t.server)[method as 'get'](url).set(headers);
    const res = ['post', 'patch', 'put'].includes(method) ? await req.send(path === '/callback' ? credentials.callbackBody : {}) : await req;
    return { status: res.status, code: (res.body as { code?: string }).code };
  };
  for (const { method, path, operation } of operations(doc)) {
    const label = `${method.toUpperCase()} ${path}`;
    const security = operation.security;
    if (security === undefined) {
      failures.push(`${label}: no security listed`);
      continue;
    }
    const anonymous = await send(method, path, {});
    if (security.length === 0) {
      if (anonymous.status === 401 || anonymous.status >= 500) failures.push(`${label}: listed public, answered ${anonymous.status} without credentials`);
      continue;
    }
    if (anonymous.status !== 401 || anonymous.code !== 'UNAUTHENTICATED') failures.push(`${label}: listed secured, answered ${anonymous.status} without credentials`);
    expect(security).toHaveLength(1);
    const required = Object.keys(security[0]);
    const headersOf = (schemes: string[]) => Object.assign({}, ...schemes.map((s) => credentials.schemes[s])) as Record<string, string>;
    const all = await send(method, path, headersOf(required));
    if (all.status === 401 || all.status >= 500) failures.push(`${label}: answered ${all.status} with ${required.join(' + ')}`);
    for (const missing of required.length > 1 ? required : []) {
      const partial = await send(method, path, headersOf(required.filter((s) => s !== missing)));
      if (partial.status !== 401) failures.push(`${label}: answered ${partial.status} without ${missing}`);
    }
    for (const other of Object.keys(credentials.schemes).filter((s) => !required.includes(s))) {
      const wrong = await send(method, path, credentials.schemes[other]);
      if (wrong.status !== 401) failures.push(`${label}: answered ${wrong.status} with ${other} only`);
    }
  }
  expect(failures).toEqual([]);
}

// The probes send a few hundred requests (every route, with and without each credential): on a
// loaded 2-core machine that takes longer than the default 30 s.
jest.setTimeout(120_000);

describe('OpenAPI document', () => {
  describe('enabled (the default; tests run with CALLBACK_JWT=off and no METRICS_TOKEN)', () => {
    let t: TestApp;
    let doc: OpenApiDocument;
    let world: { auth: string; handlerToken: string };

    beforeAll(async () => {
      t = await createTestApp(PROBE_ENV);
      world = await createExampleWorld(t);
      doc = await fetchDocument(t);
    });

    afterAll(() => t.close());

    it('is an OpenAPI 3 document titled CyberApp Gateway', () => {
      expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
      expect(doc.info).toEqual(expect.objectContaining({ title: 'CyberApp Gateway', version: expect.any(String) }));
    });

    it('lists every route the app serves, /metrics and the health routes included', () => {
      const documented = operations(doc)
        .map(({ method, path }) => `${method.toUpperCase()} ${path}`)
        .sort();
      expect(documented).toEqual(servedRoutes(t));
      // The console (HTML pages for a browser, docs/console.md) is the only thing left out.
      expect(servedRoutes(t, { console: true }).length).toBeGreaterThan(10);
      expect(documented.filter((route) => route.split(' ')[1].startsWith('/console'))).toEqual([]);
      expect(documented).toEqual(expect.arrayContaining(['GET /metrics', 'GET /health/live', 'GET /health/ready', 'POST /callback', 'POST /s3-events/{token}', 'GET /api/action/1.0/capabilities']));
      expect(Object.keys(doc.paths['/api/webhooks/{id}']).sort()).toEqual(['delete', 'get', 'patch']);
    });

    it('declares each credential as a security scheme', () => {
      const schemes = doc.components.securitySchemes;
      expect(schemes['cyberapp-auth']).toEqual(expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-CyberApp-Auth' }));
      expect(schemes['platform-jwt']).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }));
      expect(schemes['handler-token']).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
      expect(schemes['metrics-token']).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
      // Every scheme an operation names is declared.
      const named = new Set(operations(doc).flatMap(({ operation }) => (operation.security ?? []).flatMap((r) => Object.keys(r))));
      expect([...named].filter((name) => !schemes[name])).toEqual([]);
    });

    it("lists each route's credentials as this instance checks them", () => {
      const securityOf = (method: string, path: string) => doc.paths[path][method].security;
      expect(securityOf('post', '/callback')).toEqual([{ 'cyberapp-auth': [] }]);
      for (const path of ['/api/webhooks', '/api/hooks', '/api/connector/items', '/api/s3-events/sources', '/api/actions']) expect(securityOf('get', path)).toEqual([{ 'cyberapp-auth': [] }]);
      expect(securityOf('get', '/api/action/1.0/capabilities')).toEqual([{ 'handler-token': [] }]);
      for (const path of ['/', '/health/live', '/health/ready', '/s3-events/ping', '/metrics']) expect(securityOf('get', path)).toEqual([]);
      expect(securityOf('post', '/s3-events/{token}')).toEqual([]);
      expect(doc.paths['/callback'].post.description).toContain('CALLBACK_JWT=off');
    });

    it('matches every route\'s security to its guard: probed over HTTP with and without each credential', async () => {
      const callbackBody = callbackExamples(doc, 'request')[`cti.a.p.acgw.callback.v1.0~a.p.enablement.read.v1.0`].value;
      await probeSecurity(t, doc, {
        schemes: { 'cyberapp-auth': { 'x-cyberapp-auth': world.auth }, 'handler-token': { authorization: `Bearer ${world.handlerToken}` } },
        callbackBody,
      });
    });

    it('documents POST /callback with the request envelope, the success envelope and the error envelope', () => {
      const operation = doc.paths['/callback'].post;
      expect(bodySchemaRef(operation)).toBe('#/components/schemas/CallbackRequestSchema');
      expect(operation.responses['200'].content?.['application/json'].schema).toEqual({ $ref: '#/components/schemas/CallbackResponseSchema' });
      expect(operation.responses['401'].content?.['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorEnvelopeSchema' });
      const schemas = doc.components.schemas;
      expect(schemas.CallbackRequestSchema.required).toEqual(expect.arrayContaining(['type', 'request_id', 'created_at', 'context']));
      expect(schemas.CallbackRequestSchema.required).not.toContain('payload');
      expect(schemas.CallbackContextSchema.required).toEqual(expect.arrayContaining(['callback_id', 'endpoint_id', 'tenant_id']));
      expect(Object.keys(schemas.CallbackResponseSchema.properties ?? {})).toEqual(['type', 'request_id', 'response_id', 'payload']);
      expect(Object.keys(schemas.ErrorEnvelopeSchema.properties ?? {})).toEqual(['request_id', 'response_id', 'err_message', 'message', 'code']);
    });

    it('has one request and one answer example for every callback ID the registry serves, and names them all', () => {
      const ids = t.app.get(CallbackRegistry).ids().sort();
      expect(ids).toEqual(expect.arrayContaining(['cti.a.p.acgw.callback.v1.0~vendor.app.action_submit.v1.0', 'cti.a.p.acgw.callback.v2.0~a.p.customer.mirroring.set_state.v1.0']));
      expect(Object.keys(callbackExamples(doc, 'request')).sort()).toEqual(ids);
      expect(Object.keys(callbackExamples(doc, 'response')).sort()).toEqual(ids);
      for (const id of ids) expect(doc.paths['/callback'].post.description).toContain(`\`${id}\``);
      expect(ids.map(shortId).sort()).toEqual([...STORY].sort());
    });

    it('pairs each request example with its answer: same request_id, the registered request and response types', () => {
      const requests = callbackExamples(doc, 'request');
      const responses = callbackExamples(doc, 'response');
      const registry = t.app.get(CallbackRegistry);
      for (const [id, { value: req }] of Object.entries(requests)) {
        const registered = registry.get(id);
        const res = responses[id].value;
        expect({ id, type: req.type, callback: (req.context as Json).callback_id, response: res.type, requestId: res.request_id }).toEqual({
          id,
          type: registered?.requestType,
          callback: id,
          response: registered?.responseType,
          requestId: req.request_id,
        });
        expect(res.response_id).not.toBe(req.request_id);
      }
    });

    it('every request example passes the envelope, ID, type and payload checks: sent in turn, each is answered 200 with an answer shaped like its example', async () => {
      const requests = callbackExamples(doc, 'request');
      const responses = callbackExamples(doc, 'response');
      const byShortId = new Map(Object.keys(requests).map((id) => [shortId(id), id]));
      for (const name of STORY) {
        const id = byShortId.get(name) as string;
        const res = await request(t.server).post('/callback').set('x-cyberapp-auth', world.auth).send(requests[id].value);
        const expected = responses[id].value;
        expect({ id, status: res.status, body: res.body as Json }).toEqual({
          id,
          status: 200,
          body: { type: expected.type, request_id: expected.request_id, response_id: expect.any(String), ...('payload' in expected ? { payload: expect.anything() } : {}) },
        });
        expect({ id, shape: shape((res.body as Json).payload) }).toEqual({ id, shape: shape(expected.payload) });
      }
      // What the story left: Jane was renamed, then deleted; John was created; the mirrored customer was disabled with its partner.
      const users = await t.dataSource.manager.find(User, { where: { organizationId: EXAMPLE_IDS.customerOrganization } });
      expect(users.map((u) => ({ login: u.login, name: u.name }))).toEqual([{ login: 'john.roe', name: 'John Roe' }]);
      const mirrored = await t.dataSource.manager.find(MirroredCustomer, { where: { acronisTenantId: EXAMPLE_IDS.acronisCustomerTenant } });
      expect(mirrored.map((m) => ({ partner: m.partnerOrganizationId, state: m.state }))).toEqual([{ partner: EXAMPLE_IDS.partnerOrganization, state: MirroringState.Disabled }]);
    });

    it('documents the request bodies and query parameters of the hand-validated REST routes', () => {
      expect(bodySchemaRef(doc.paths['/api/webhooks'].post)).toBe('#/components/schemas/CreateSubscriptionDto');
      expect(bodySchemaRef(doc.paths['/api/connector/items'].post)).toBe('#/components/schemas/IntakeBatchDto');
      expect(doc.components.schemas.CreateSubscriptionDto.required).toEqual(expect.arrayContaining(['name', 'payload_url']));
      expect(bodySchemaRef(doc.paths['/api/s3-events/sources'].post)).toBe('#/components/schemas/CreateSourceDto');
      expect(bodySchemaRef(doc.paths['/api/s3-events/sources/{id}'].patch)).toBe('#/components/schemas/UpdateSourceDto');
      expect(doc.components.schemas.CreateSourceDto.required).toEqual(expect.arrayContaining(['name', 'allowed_buckets']));
      expect(doc.components.schemas.UpdateSourceDto.properties).not.toHaveProperty('organization_id');
      expect((doc.components.schemas.CreateSourceDto.properties?.actions as { items: unknown }).items).toEqual({
        oneOf: [{ $ref: '#/components/schemas/S3CommandActionDto' }, { $ref: '#/components/schemas/S3ReplicateActionDto' }],
        discriminator: { propertyName: 'type', mapping: { command: '#/components/schemas/S3CommandActionDto', replicate: '#/components/schemas/S3ReplicateActionDto' } },
      });
      expect(doc.components.schemas.S3ReplicateActionDto.required).toEqual(expect.arrayContaining(['type', 'endpoint', 'region', 'access_key_id', 'secret_access_key', 'bucket']));
      const names = (operation: unknown) => (operation as { parameters: Array<{ name: string; in: string }> }).parameters.map((p) => `${p.in}:${p.name}`);
      expect(names(doc.paths['/api/webhooks/deliveries'].get)).toEqual(
        expect.arrayContaining(['query:subscription_id', 'query:event_type', 'query:since', 'query:until', 'query:success', 'query:state', 'query:limit', 'query:offset']),
      );
      expect(names(doc.paths['/api/connector/items'].get)).toEqual(expect.arrayContaining(['query:organization_id', 'query:state', 'query:kind', 'query:limit', 'query:before']));
      expect(names(doc.paths['/api/webhooks/{id}'].get)).toEqual(['path:id']);
    });

    it('documents GET /metrics as Prometheus text', () => {
      const metrics = doc.paths['/metrics'].get;
      expect(Object.keys(metrics.responses['200'].content ?? {})).toEqual(['text/plain']);
    });

    it('serves Swagger UI at /api/docs', async () => {
      const res = await request(t.server).get('/api/docs').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toContain('swagger-ui');
      await request(t.server).get('/api/docs/swagger-ui-init.js').expect(200);
      await request(t.server).get('/api/docs/swagger-ui-bundle.js').expect(200);
    });
  });

  describe('CALLBACK_JWT=required and METRICS_TOKEN set', () => {
    let t: TestApp;
    let keys: PlatformKeys;
    let doc: OpenApiDocument;
    let world: { auth: string; handlerToken: string };

    beforeAll(async () => {
      keys = await PlatformKeys.start();
      t = await createTestApp({ ...PROBE_ENV, CALLBACK_JWT: 'required', CALLBACK_JWT_JWKS_URL: keys.url, METRICS_TOKEN });
      world = await createExampleWorld(t);
      doc = await fetchDocument(t);
    });

    afterAll(async () => {
      await t.close();
      await keys.close();
    });

    it('lists the platform JWT and X-CyberApp-Auth on POST /callback, the metrics token on /metrics', () => {
      expect(doc.paths['/callback'].post.security).toEqual([{ 'platform-jwt': [], 'cyberapp-auth': [] }]);
      expect(doc.paths['/callback'].post.description).not.toContain('CALLBACK_JWT=off');
      expect(doc.paths['/metrics'].get.security).toEqual([{ 'metrics-token': [] }]);
      expect(doc.paths['/api/webhooks'].get.security).toEqual([{ 'cyberapp-auth': [] }]);
    });

    it("matches every route's security to its guard: probed over HTTP with and without each credential", async () => {
      const callbackBody = callbackExamples(doc, 'request')[`cti.a.p.acgw.callback.v1.0~a.p.enablement.read.v1.0`].value;
      const jwt = await keys.token((callbackBody.context as { endpoint_id: string }).endpoint_id);
      await probeSecurity(t, doc, {
        schemes: {
          'cyberapp-auth': { 'x-cyberapp-auth': world.auth },
          'platform-jwt': { authorization: `Bearer ${jwt}` },
          'handler-token': { authorization: `Bearer ${world.handlerToken}` },
          'metrics-token': { authorization: `Bearer ${METRICS_TOKEN}` },
        },
        callbackBody,
      });
    });
  });

  it('leaves /metrics out with METRICS_ENABLED=false (it answers 404 like an unknown route)', async () => {
    const t = await createTestApp({ METRICS_ENABLED: 'false' });
    try {
      const doc = await fetchDocument(t);
      expect(doc.paths['/metrics']).toBeUndefined();
      await request(t.server).get('/metrics').expect(404);
    } finally {
      await t.close();
    }
  });

  it('is not served with OPENAPI_ENABLED=false: 404 in the error envelope', async () => {
    const t = await createTestApp({ OPENAPI_ENABLED: 'false' });
    try {
      const json = await request(t.server).get('/api/docs-json').expect(404);
      expect(json.body).toEqual(errorEnvelope('NOT_FOUND'));
      await request(t.server).get('/api/docs').expect(404);
    } finally {
      await t.close();
    }
  });
});

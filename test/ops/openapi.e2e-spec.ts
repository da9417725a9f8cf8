import request from 'supertest';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { errorEnvelope } from '../setup/callback-client';

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { security?: Array<Record<string, string[]>>; requestBody?: unknown; responses: Record<string, unknown> }>>;
  components: { securitySchemes: Record<string, Record<string, unknown>>; schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
}

const bodySchemaRef = (operation: { requestBody?: unknown }): unknown =>
  (operation.requestBody as { content: Record<string, { schema: { $ref: string } }> }).content['application/json'].schema.$ref;

describe('OpenAPI document', () => {
  describe('enabled (the default)', () => {
    let t: TestApp;
    let doc: OpenApiDocument;

    beforeAll(async () => {
      t = await createTestApp();
      const res = await request(t.server).get('/api/docs-json').expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      doc = res.body as OpenApiDocument;
    });

    afterAll(() => t.close());

    it('is an OpenAPI 3 document titled CyberApp Gateway', () => {
      expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
      expect(doc.info).toEqual(expect.objectContaining({ title: 'CyberApp Gateway', version: expect.any(String) }));
    });

    it('lists the webhooks, deliveries, connector intake and callback routes', () => {
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          '/callback',
          '/api/webhooks',
          '/api/webhooks/{id}',
          '/api/webhooks/{id}/rotate-secret',
          '/api/webhooks/{id}/test',
          '/api/webhooks/deliveries',
          '/api/webhooks/deliveries/{id}',
          '/api/webhooks/deliveries/{id}/redeliver',
          '/api/connector/items',
          '/api/connector/items/{id}',
        ]),
      );
      expect(Object.keys(doc.paths['/api/webhooks']).sort()).toEqual(['get', 'post']);
      expect(Object.keys(doc.paths['/api/webhooks/{id}']).sort()).toEqual(['delete', 'get', 'patch']);
    });

    it('declares X-CyberApp-Auth as an API key in a header and requires it on every REST route', () => {
      expect(doc.components.securitySchemes['cyberapp-auth']).toEqual(expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-CyberApp-Auth' }));
      for (const path of ['/api/webhooks', '/api/webhooks/{id}', '/api/webhooks/deliveries', '/api/connector/items', '/api/connector/items/{id}']) {
        for (const operation of Object.values(doc.paths[path])) {
          expect(operation.security).toEqual(expect.arrayContaining([expect.objectContaining({ 'cyberapp-auth': [] })]));
        }
      }
    });

    it('documents POST /callback with the request envelope, the success envelope and the error envelope, both credentials required', () => {
      const operation = doc.paths['/callback'].post;
      expect(operation.security).toEqual([{ 'platform-jwt': [], 'cyberapp-auth': [] }]);
      expect(doc.components.securitySchemes['platform-jwt']).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
      expect(bodySchemaRef(operation)).toBe('#/components/schemas/CallbackRequestSchema');
      expect(operation.responses['200']).toEqual(
        expect.objectContaining({ content: { 'application/json': { schema: { $ref: '#/components/schemas/CallbackResponseSchema' } } } }),
      );
      expect(operation.responses['401']).toEqual(
        expect.objectContaining({ content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelopeSchema' } } } }),
      );
      const schemas = doc.components.schemas;
      expect(schemas.CallbackRequestSchema.required).toEqual(expect.arrayContaining(['type', 'request_id', 'created_at', 'context']));
      expect(schemas.CallbackRequestSchema.required).not.toContain('payload');
      expect(schemas.CallbackContextSchema.required).toEqual(expect.arrayContaining(['callback_id', 'endpoint_id', 'tenant_id']));
      expect(Object.keys(schemas.CallbackResponseSchema.properties ?? {})).toEqual(['type', 'request_id', 'response_id', 'payload']);
      expect(Object.keys(schemas.ErrorEnvelopeSchema.properties ?? {})).toEqual(['request_id', 'response_id', 'err_message', 'message', 'code']);
    });

    it('documents the request bodies and query parameters of the hand-validated REST routes', () => {
      expect(bodySchemaRef(doc.paths['/api/webhooks'].post)).toBe('#/components/schemas/CreateSubscriptionDto');
      expect(bodySchemaRef(doc.paths['/api/connector/items'].post)).toBe('#/components/schemas/IntakeBatchDto');
      expect(doc.components.schemas.CreateSubscriptionDto.required).toEqual(expect.arrayContaining(['name', 'payload_url']));
      const names = (operation: unknown) => (operation as { parameters: Array<{ name: string; in: string }> }).parameters.map((p) => `${p.in}:${p.name}`);
      expect(names(doc.paths['/api/webhooks/deliveries'].get)).toEqual(
        expect.arrayContaining(['query:subscription_id', 'query:event_type', 'query:since', 'query:until', 'query:success', 'query:state', 'query:limit', 'query:offset']),
      );
      expect(names(doc.paths['/api/connector/items'].get)).toEqual(expect.arrayContaining(['query:organization_id', 'query:state', 'query:kind', 'query:limit', 'query:before']));
      expect(names(doc.paths['/api/webhooks/{id}'].get)).toEqual(['path:id']);
    });

    it('leaves GET /metrics out', () => {
      expect(doc.paths['/metrics']).toBeUndefined();
    });

    it('serves Swagger UI at /api/docs', async () => {
      const res = await request(t.server).get('/api/docs').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toContain('swagger-ui');
      await request(t.server).get('/api/docs/swagger-ui-init.js').expect(200);
      await request(t.server).get('/api/docs/swagger-ui-bundle.js').expect(200);
    });
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

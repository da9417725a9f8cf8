import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createTree, Tree } from '../factories/organizations';
import { errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth, envelope } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

/**
 * Every malformed request answers a precise 4xx in the protocol's error envelope, never a 500,
 * and leaves the stored data as it was. The bodies are write callbacks, so a lapse would show.
 */
describe('bad input to POST /callback', () => {
  let t: TestApp;
  let tree: Tree;
  let auth: string;
  let before: Record<string, unknown[]> | null;

  beforeAll(async () => {
    t = await createTestApp({ BODY_LIMIT_BYTES: '4096' });
    tree = await createTree(t.dataSource);
    auth = cyberAppAuth('partner', tree.password);
  });
  beforeEach(async () => {
    before = await snapshot(t.dataSource);
  });
  afterEach(async () => {
    if (before) expect(await snapshot(t.dataSource)).toEqual(before);
  });
  afterAll(() => t.close());

  const writeBody = () => envelope('tenant_mapping.write', { modified: [{ vendor_tenant_id: tree.customers[0].id, acronis_tenant_id: randomUUID() }] });
  const post = () => request(t.server).post('/callback').set('X-CyberApp-Auth', auth);

  it('answers 400 for malformed JSON', async () => {
    const res = await post().set('Content-Type', 'application/json').send('{"type": "x",').expect(400);
    expect(res.body).toMatchObject(errorEnvelope('MALFORMED_REQUEST'));
  });

  it('answers 400 for an empty JSON body', async () => {
    const res = await post().set('Content-Type', 'application/json').send('').expect(400);
    expect(res.body.code).toBe('MALFORMED_REQUEST');
  });

  it.each([['[]'], ['"text"'], ['42'], ['null'], ['true']])('answers 400 for a body that is not an object: %s', async (raw) => {
    const res = await post().set('Content-Type', 'application/json').send(raw).expect(400);
    expect(res.body).toMatchObject(errorEnvelope('MALFORMED_REQUEST'));
  });

  it.each([['text/plain'], ['application/x-www-form-urlencoded'], ['application/xml']])('answers 415 for Content-Type %s', async (type) => {
    const res = await post().set('Content-Type', type).send('type=x').expect(415);
    expect(res.body).toMatchObject(errorEnvelope('UNSUPPORTED_MEDIA_TYPE'));
  });

  it('answers 413 for a body over the configured limit', async () => {
    const body = writeBody();
    (body.payload as Record<string, unknown>).padding = 'x'.repeat(8192);
    const res = await post().send(body).expect(413);
    expect(res.body).toMatchObject(errorEnvelope('PAYLOAD_TOO_LARGE'));
  });

  it('answers 400 for NUL characters anywhere in the body (PostgreSQL cannot store them)', async () => {
    const inName = envelope('user_write', { login: 'nul', name: 'a\u0000b', email: 'n@example.test' });
    const inContext = writeBody();
    (inContext.context as Record<string, unknown>).datacenter_url = 'https://x\u0000.example';
    for (const body of [inName, inContext]) {
      const res = await post().send(body).expect(400);
      expect(res.body).toMatchObject(errorEnvelope('MALFORMED_REQUEST', body.request_id as string));
    }
  });

  it('answers 401, not 500, for a NUL in the X-CyberApp-Auth identity', async () => {
    const header = Buffer.from('part\u0000ner:{"password":"x"}').toString('base64');
    await request(t.server).post('/callback').set('X-CyberApp-Auth', header).send(writeBody()).expect(401);
  });

  it('answers 400 for JSON nested deeper than any request needs', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 400; i++) deep = { d: deep }; // ~2.8 KB: under the body limit of this suite
    for (const where of ['payload', 'context'] as const) {
      const body = writeBody();
      (body[where] as Record<string, unknown>).extra = deep;
      const res = await post().send(body).expect(400);
      expect(res.body.err_message).toMatch(/nesting/);
    }
  });

  it('answers 400 "Callback not found." for an unknown callback ID, echoing request_id', async () => {
    const body = writeBody();
    (body.context as Record<string, unknown>).callback_id = 'cti.a.p.acgw.callback.v1.0~a.p.nope.v1.0';
    const res = await post().send(body).expect(400);
    expect(res.body).toEqual({ ...errorEnvelope('CALLBACK_NOT_FOUND', body.request_id as string), err_message: 'Callback not found.', message: 'Callback not found.' });
  });

  it('answers 400 when the request type does not match the callback', async () => {
    const body = writeBody();
    body.type = 'cti.a.p.acgw.request.v1.0~a.p.empty.v1.0';
    const res = await post().send(body).expect(400);
    expect(res.body).toMatchObject(errorEnvelope('REQUEST_TYPE_MISMATCH', body.request_id as string));
  });

  const fields: Array<[string, (b: Record<string, unknown>) => void, string]> = [
    ['type missing', (b) => delete b.type, 'type'],
    ['request_id missing', (b) => delete b.request_id, 'request_id'],
    ['request_id not a UUID', (b) => (b.request_id = 'abc'), 'request_id'],
    ['created_at missing', (b) => delete b.created_at, 'created_at'],
    ['created_at not a date', (b) => (b.created_at = 'yesterday'), 'created_at'],
    ['context missing', (b) => delete b.context, 'context'],
    ['context a string', (b) => (b.context = 'x'), 'context'],
    ['context.callback_id missing', (b) => delete (b.context as Record<string, unknown>).callback_id, 'context.callback_id'],
    ['context.endpoint_id a number', (b) => ((b.context as Record<string, unknown>).endpoint_id = 1), 'context.endpoint_id'],
    ['context.tenant_id not a UUID', (b) => ((b.context as Record<string, unknown>).tenant_id = 'tenant'), 'context.tenant_id'],
    ['context.datacenter_url a number', (b) => ((b.context as Record<string, unknown>).datacenter_url = 5), 'context.datacenter_url'],
    ['payload an array', (b) => (b.payload = []), 'payload'],
    ['payload.modified missing', (b) => (b.payload = {}), 'payload.modified'],
  ];
  it.each(fields)('answers 400 naming the field when %s', async (_, mutate, field) => {
    const body = writeBody();
    mutate(body);
    const res = await post().send(body).expect(400);
    expect(['MALFORMED_REQUEST', 'VALIDATION_FAILED']).toContain(res.body.code);
    expect(res.body.err_message).toContain(field);
  });

  describe('any type in any envelope field', () => {
    beforeEach(() => {
      before = null; // this block checks the data after each request itself
    });

    it('never answers 500 whatever type any envelope field has', async () => {
      const values: unknown[] = [null, 0, -1, 1.5, true, '', 'x', [], [1], {}, { a: 1 }, 'x'.repeat(300)];
      const paths = ['type', 'request_id', 'created_at', 'context', 'payload', 'context.callback_id', 'context.endpoint_id', 'context.tenant_id', 'context.datacenter_url', 'payload.modified'];
      let seen = await snapshot(t.dataSource);
      for (const path of paths) {
        for (const value of values) {
          const body = writeBody();
          const [head, tail] = path.split('.');
          if (tail) (body[head] as Record<string, unknown>)[tail] = value;
          else body[head] = value;
          const res = await post().send(body);
          // Some values are valid (an empty `modified` list, any datacenter_url string): those succeed.
          expect({ path, value, status: res.status < 500 }).toEqual({ path, value, status: true });
          if (res.status >= 400) {
            expect(res.body.code).toEqual(expect.any(String));
            expect(await snapshot(t.dataSource)).toEqual(seen);
          }
          seen = await snapshot(t.dataSource);
        }
      }
    });
  });
});

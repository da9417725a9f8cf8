import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createTree, Tree } from '../factories/organizations';
import { createSource, CreatedSource, SHELL, notification, PUBLISHED_CONFIRMATION, PUBLISHED_RECORDS, RECORDER, s3Record } from '../factories/s3-events';
import { snapshot } from '../setup/snapshot';
import { errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

const BODY_LIMIT = 16384;
const MAX_RECORDS = 5;

type Json = Record<string, unknown>;

/**
 * Every malformed, unknown, unauthenticated or foreign request to the S3 event routes answers a
 * precise 4xx in the error envelope, never a 500, and leaves every table as it was (checked after
 * each test). The worker is off, so the fixture's pending record stays pending.
 */
describe('bad input to the S3 event intake and API', () => {
  let t: TestApp;
  let tree: Tree;
  let auth: string;
  let otherAuth: string;
  let source: CreatedSource;
  let noUrl: CreatedSource;
  let disabled: CreatedSource;
  let foreign: CreatedSource;
  let pendingId: string;
  let foreignRecordId: string;
  let before: Record<string, unknown[]>;

  beforeAll(async () => {
    t = await createTestApp({
      S3_EVENTS_WORKER_ENABLED: 'false',
      S3_EVENTS_ALLOWED_COMMANDS: SHELL,
      S3_EVENTS_MAX_RECORDS: String(MAX_RECORDS),
      BODY_LIMIT_BYTES: String(BODY_LIMIT),
      AUTH_FAILURES_PER_IDENTITY_ADDRESS: '10000',
      AUTH_FAILURES_PER_IDENTITY: '10000',
      AUTH_FAILURES_PER_ADDRESS: '10000',
    });
    tree = await createTree(t.dataSource);
    auth = cyberAppAuth('partner', tree.password);
    otherAuth = cyberAppAuth('other', 'other-password');
    source = await createSource(t, auth, { name: 'main', public_url: 'http://test.com', allowed_buckets: ['bucketA'] });
    noUrl = await createSource(t, auth, { name: 'no-url', allowed_buckets: ['bucketA'] });
    disabled = await createSource(t, auth, { name: 'off', public_url: 'http://test.com', allowed_buckets: ['bucketA'], enabled: false });
    foreign = await createSource(t, otherAuth, { name: 'theirs', allowed_buckets: ['bucketA'] });
    await request(t.server).post(source.intake_path).send(PUBLISHED_RECORDS).expect(200);
    await request(t.server).post(foreign.intake_path).send(PUBLISHED_RECORDS).expect(200);
    const inbox = async (a: string) => (await request(t.server).get('/api/s3-events/inbox').set('X-CyberApp-Auth', a)).body.items as Json[];
    pendingId = (await inbox(auth))[0].id as string;
    foreignRecordId = (await inbox(otherAuth))[0].id as string;
  });
  beforeEach(async () => {
    before = await snapshot(t.dataSource);
  });
  afterEach(async () => {
    expect(await snapshot(t.dataSource)).toEqual(before);
  });
  afterAll(async () => {
    await t.close();
  });

  const expectError = (res: request.Response, status: number, code: string, text?: string): void => {
    expect({ status: res.status, body: res.body as unknown }).toEqual({ status, body: expect.objectContaining(errorEnvelope(code)) });
    if (text) expect(res.body.err_message).toContain(text);
  };
  const intake = (path: string, body: unknown) => request(t.server).post(path).send(body as object);

  describe('intake route', () => {
    it.each([
      ['a well-formed token nobody has', `/s3-events/${'A'.repeat(43)}`],
      ['a token of the wrong shape', '/s3-events/short'],
      ['a token with a path trick', '/s3-events/..%2Fapi'],
    ])('answers 404 for %s, for confirmations and records alike', async (_name, path) => {
      expectError(await intake(path, PUBLISHED_RECORDS), 404, 'NOT_FOUND');
      expectError(await intake(path, PUBLISHED_CONFIRMATION), 404, 'NOT_FOUND');
    });

    it('answers 400 for a body that is not JSON', async () => {
      const res = await request(t.server).post(source.intake_path).set('Content-Type', 'application/json').send('{"Records": [');
      expect(res.status).toBe(400);
      expect(res.body.code).toBeDefined();
    });

    it('answers 415 for a body declared neither JSON nor text/plain', async () => {
      for (const type of ['application/xml', 'application/x-www-form-urlencoded']) {
        expectError(await request(t.server).post(source.intake_path).set('Content-Type', type).send('hello'), 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
    });

    it('answers 400 for a text/plain body that is not JSON', async () => {
      expectError(await request(t.server).post(source.intake_path).set('Content-Type', 'text/plain').send('hello'), 400, 'MALFORMED_REQUEST');
    });

    it('answers 413 for a body over BODY_LIMIT_BYTES and for more than S3_EVENTS_MAX_RECORDS records', async () => {
      const huge = notification({ key: 'x'.repeat(1000), sequencer: 1 });
      huge.Records[0].padding = 'p'.repeat(BODY_LIMIT);
      expectError(await intake(source.intake_path, huge), 413, 'PAYLOAD_TOO_LARGE');
      const many = notification(...Array.from({ length: MAX_RECORDS + 1 }, (_, n) => ({ key: `k${n}`, sequencer: n + 1 })));
      expectError(await intake(source.intake_path, many), 413, 'PAYLOAD_TOO_LARGE');
    });

    it.each([
      ['an empty object', {}],
      ['an array', [PUBLISHED_RECORDS]],
      ['another SNS type', { Type: 'Notification', Message: 'hi' }],
      ['Records that is not an array', { Records: { s3: {} } }],
      ['no records', { Records: [] }],
    ])('answers 400 for a body that is neither shape: %s', async (_name, body) => {
      expectError(await intake(source.intake_path, body), 400, 'VALIDATION_FAILED');
    });

    it('answers 400 for a JSON string or number instead of an object', async () => {
      for (const raw of ['"Records"', '42', 'null']) {
        const res = await request(t.server).post(source.intake_path).set('Content-Type', 'application/json').send(raw);
        expectError(res, 400, 'VALIDATION_FAILED');
      }
    });

    const valid = () => s3Record({ key: 'ok.txt', sequencer: 1 });
    const broken = (change: (r: Json) => void): Json => {
      const r = valid() as Json & { s3: { object: Json; bucket: Json } };
      change(r);
      return r;
    };
    it.each([
      ['no eventName', (r: Json) => delete r.eventName, 'eventName'],
      ['an eventName that is neither created nor removed', (r: Json) => (r.eventName = 's3:ObjectRestore:Post'), 'eventName'],
      ['no s3 section', (r: Json) => delete r.s3, 's3'],
      ['no object key', (r: Json) => delete ((r.s3 as Json).object as Json).key, 'key'],
      ['an empty key', (r: Json) => (((r.s3 as Json).object as Json).key = ''), 'key'],
      ['a key over 1024 bytes', (r: Json) => (((r.s3 as Json).object as Json).key = 'é'.repeat(513)), 'key'],
      ['a bucket name that is not a string', (r: Json) => (((r.s3 as Json).bucket as Json).name = 7), 'bucket.name'],
      ['no sequencer', (r: Json) => delete ((r.s3 as Json).object as Json).sequencer, 'sequencer'],
      ['a negative sequencer', (r: Json) => (((r.s3 as Json).object as Json).sequencer = -1), 'sequencer'],
      ['a fractional sequencer', (r: Json) => (((r.s3 as Json).object as Json).sequencer = 1.5), 'sequencer'],
      ['a sequencer that is not hex', (r: Json) => (((r.s3 as Json).object as Json).sequencer = 'xyz'), 'sequencer'],
      ['a sequencer of 33 hex digits', (r: Json) => (((r.s3 as Json).object as Json).sequencer = 'f'.repeat(33)), 'sequencer'],
      ['a negative size', (r: Json) => (((r.s3 as Json).object as Json).size = '-1'), 'size'],
      ['a size that is an object', (r: Json) => (((r.s3 as Json).object as Json).size = {}), 'size'],
      ['an eTag that is a number', (r: Json) => (((r.s3 as Json).object as Json).eTag = 5), 'eTag'],
    ])('answers 400 naming the field, storing none of the records, for a record with %s', async (_name, change, field) => {
      const res = await intake(source.intake_path, { Records: [s3Record({ key: 'fine.txt', sequencer: 9 }), broken(change)] });
      expectError(res, 400, 'VALIDATION_FAILED', field);
      expect(res.body.err_message).toContain('Records[1]');
    });

    it('answers 403 for a record of a bucket the source does not allow, storing none of the records', async () => {
      const body = notification({ key: 'a', sequencer: 1 }, { bucket: 'someone-elses', key: 'b', sequencer: 2 });
      expectError(await intake(source.intake_path, body), 403, 'FORBIDDEN', 'someone-elses');
    });

    it('answers 403 for a confirmation of a bucket the source does not allow', async () => {
      expectError(await intake(source.intake_path, { ...PUBLISHED_CONFIRMATION, TopicArn: 'mcs1|other-bucket|s3:ObjectCreated:*' }), 403, 'FORBIDDEN');
    });

    it('refuses a confirmation for a source whose public_url is not configured (409)', async () => {
      expectError(await intake(noUrl.intake_path, PUBLISHED_CONFIRMATION), 409, 'CONFLICT', 'public_url');
    });

    it('answers 403 to a disabled source, for confirmations and records', async () => {
      expectError(await intake(disabled.intake_path, PUBLISHED_CONFIRMATION), 403, 'FORBIDDEN', 'disabled');
      expectError(await intake(disabled.intake_path, PUBLISHED_RECORDS), 403, 'FORBIDDEN', 'disabled');
    });

    it.each([
      ['no Token', { ...PUBLISHED_CONFIRMATION, Token: undefined }, 'Token'],
      ['a numeric Timestamp', { ...PUBLISHED_CONFIRMATION, Timestamp: 1577377752 }, 'Timestamp'],
      ['a TopicArn without bucket', { ...PUBLISHED_CONFIRMATION, TopicArn: 'arn:aws:sns:us-east-1:1:topic' }, 'TopicArn'],
    ])('answers 400 for a confirmation with %s', async (_name, body, field) => {
      expectError(await intake(source.intake_path, body), 400, 'VALIDATION_FAILED', field);
    });
  });

  describe('API', () => {
    const ROUTES: Array<[string, 'get' | 'post' | 'patch' | 'delete', string]> = [
      ['POST sources', 'post', '/api/s3-events/sources'],
      ['GET sources', 'get', '/api/s3-events/sources'],
      ['GET source', 'get', '/api/s3-events/sources/:source'],
      ['PATCH source', 'patch', '/api/s3-events/sources/:source'],
      ['DELETE source', 'delete', '/api/s3-events/sources/:source'],
      ['POST rotate-token', 'post', '/api/s3-events/sources/:source/rotate-token'],
      ['GET inbox', 'get', '/api/s3-events/inbox'],
      ['GET inbox record', 'get', '/api/s3-events/inbox/:record'],
      ['POST replay', 'post', '/api/s3-events/inbox/:record/replay'],
    ];
    const path = (p: string) => p.replace(':source', source.id).replace(':record', pendingId);

    it.each(ROUTES)('%s answers 401 without credentials and with a wrong password', async (_name, method, p) => {
      expectError(await request(t.server)[method](path(p)).send({ name: 'x' }), 401, 'UNAUTHENTICATED');
      expectError(await request(t.server)[method](path(p)).set('X-CyberApp-Auth', cyberAppAuth('partner', 'nope')).send({ name: 'x' }), 401, 'UNAUTHENTICATED');
    });

    it.each(ROUTES.filter(([, , p]) => p.includes(':')))('%s answers 404 for an unknown id and for another partner’s', async (_name, method, p) => {
      const unknown = p.replace(':source', randomUUID()).replace(':record', randomUUID());
      const theirs = p.replace(':source', foreign.id).replace(':record', foreignRecordId);
      for (const target of [unknown, theirs, p.replace(':source', 'x'.repeat(60)).replace(':record', 'x'.repeat(60))]) {
        // A body only where the route takes one: the others refuse any field (400) before looking the id up.
        const req = request(t.server)[method](target).set('X-CyberApp-Auth', auth);
        expectError(await (method === 'patch' ? req.send({ name: 'renamed' }) : req), 404, 'NOT_FOUND');
      }
    });

    it('answers 403 for a source created for, or a list of, another partner’s organization', async () => {
      const body = { name: 'x', allowed_buckets: ['b'], organization_id: tree.otherCustomer.id };
      expectError(await request(t.server).post('/api/s3-events/sources').set('X-CyberApp-Auth', auth).send(body), 403, 'FORBIDDEN');
      expectError(await request(t.server).get(`/api/s3-events/sources?organization_id=${tree.other.id}`).set('X-CyberApp-Auth', auth), 403, 'FORBIDDEN');
    });

    it('answers 404 for an inbox filtered by another partner’s source', async () => {
      expectError(await request(t.server).get(`/api/s3-events/inbox?source_id=${foreign.id}`).set('X-CyberApp-Auth', auth), 404, 'NOT_FOUND');
    });

    const good = (): Json => ({ name: 'x', allowed_buckets: ['b'] });
    const replicate = (): Json => ({ type: 'replicate', endpoint: 'https://1.1.1.1', region: 'r', bucket: 'b', access_key_id: 'k', secret_access_key: 's' });
    it.each([
      ['no name', { ...good(), name: undefined }, 'name'],
      ['a name with a control character', { ...good(), name: 'a\u0001b' }, 'name'],
      ['no allowed_buckets', { ...good(), allowed_buckets: undefined }, 'allowed_buckets'],
      ['empty allowed_buckets', { ...good(), allowed_buckets: [] }, 'allowed_buckets'],
      ['a bucket name with a slash', { ...good(), allowed_buckets: ['a/b'] }, 'allowed_buckets.0'],
      ['a public_url that is not http', { ...good(), public_url: 'ftp://example.com' }, 'public_url'],
      ['a public_url that is not a URL', { ...good(), public_url: 'not a url' }, 'public_url'],
      ['actions that is not an array', { ...good(), actions: {} }, 'actions'],
      ['eleven actions', { ...good(), actions: Array(11).fill({ type: 'command', command: [SHELL, RECORDER] }) }, 'actions'],
      ['an action of an unknown type', { ...good(), actions: [{ type: 'shell', command: 'rm -rf /' }] }, 'actions.0.type'],
      ['a command that is a string (no shell)', { ...good(), actions: [{ type: 'command', command: `${SHELL} x.js` }] }, 'actions.0.command'],
      ['an empty command', { ...good(), actions: [{ type: 'command', command: [] }] }, 'actions.0.command'],
      ['a command not in S3_EVENTS_ALLOWED_COMMANDS', { ...good(), actions: [{ type: 'command', command: ['/usr/bin/env', 'id'] }] }, 'S3_EVENTS_ALLOWED_COMMANDS'],
      ['a timeout below 100 ms', { ...good(), actions: [{ type: 'command', command: [SHELL], timeout_ms: 5 }] }, 'timeout_ms'],
      ['a replicate without secret', { ...good(), actions: [{ ...replicate(), secret_access_key: undefined }] }, 'secret_access_key'],
      ['a replicate endpoint on loopback', { ...good(), actions: [{ ...replicate(), endpoint: 'http://127.0.0.1:9000' }] }, 'actions.0.endpoint'],
      ['a replicate source endpoint on a private address', { ...good(), actions: [{ ...replicate(), source: { endpoint: 'http://10.0.0.1', region: 'r', access_key_id: 'k', secret_access_key: 's' } }] }, 'actions.0.source.endpoint'],
      ['a non-boolean force_path_style', { ...good(), actions: [{ ...replicate(), force_path_style: 'yes' }] }, 'force_path_style'],
      ['an action that is null', { ...good(), actions: [null] }, 'actions.0'],
      ['a replicate source that is not an object', { ...good(), actions: [{ ...replicate(), source: 'https://1.1.1.1' }] }, 'actions.0.source'],
      ['a non-boolean enabled', { ...good(), enabled: 'true' }, 'enabled'],
    ])('POST sources answers 400 for %s', async (_name, body, field) => {
      expectError(await request(t.server).post('/api/s3-events/sources').set('X-CyberApp-Auth', auth).send(body), 400, 'VALIDATION_FAILED', field);
    });

    it.each([
      ['an empty change', {}, 'at least one'],
      ['organization_id', { organization_id: randomUUID() }, 'organization_id'],
      ['a null name', { name: null }, 'name'],
      ['a body that is an array', [], 'body'],
    ])('PATCH source answers 400 for %s', async (_name, body, text) => {
      expectError(await request(t.server).patch(`/api/s3-events/sources/${source.id}`).set('X-CyberApp-Auth', auth).send(body), 400, 'VALIDATION_FAILED', text);
    });

    it('answers 400 for malformed JSON on the API', async () => {
      const res = await request(t.server).post('/api/s3-events/sources').set('X-CyberApp-Auth', auth).set('Content-Type', 'application/json').send('{"name":');
      expect(res.status).toBe(400);
    });

    it.each([
      ['state=bogus', 'state'],
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['offset=-1', 'offset'],
      ['state=done&state=failed', 'state'],
      ['bucket=a&bucket=b', 'bucket'],
    ])('GET inbox answers 400 for %s', async (query, field) => {
      expectError(await request(t.server).get(`/api/s3-events/inbox?${query}`).set('X-CyberApp-Auth', auth), 400, 'VALIDATION_FAILED', field);
    });

    it('answers 409 to a replay of a record that has not finished', async () => {
      expectError(await request(t.server).post(`/api/s3-events/inbox/${pendingId}/replay`).set('X-CyberApp-Auth', auth), 409, 'CONFLICT');
    });
  });
});

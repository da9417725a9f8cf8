import request from 'supertest';
import { S3InboxRecord, S3InboxState } from '../../src/s3-events/s3-inbox-record.entity';
import { createTree, Tree } from '../factories/organizations';
import { createInboxRecords, createSource, CreatedSource } from '../factories/s3-events';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

type Json = Record<string, unknown>;

/** `before=<id>` key paging of the sources and inbox lists, and the confirmations of a source. */
describe('S3 API: key paging and confirmations', () => {
  let t: TestApp;
  let tree: Tree;
  let auth: string;
  let source: CreatedSource;
  let otherSource: CreatedSource;
  const get = (path: string, as = auth) => request(t.server).get(path).set('X-CyberApp-Auth', as);

  beforeAll(async () => {
    t = await createTestApp({ S3_EVENTS_WORKER_ENABLED: 'false' });
    tree = await createTree(t.dataSource);
    auth = cyberAppAuth('partner', tree.password);
    source = await createSource(t, auth, { name: 'paged', allowed_buckets: ['bucketA'], public_url: 'https://gw.example/s3-events/{token}' });
    otherSource = await createSource(t, cyberAppAuth('other', 'other-password'), { name: 'other', allowed_buckets: ['bucketA'] });
    await createInboxRecords(t.dataSource, { id: source.id, organizationId: tree.partner.id }, 25, new Date(Date.now() - 60_000), S3InboxState.Done);
    await createInboxRecords(t.dataSource, { id: source.id, organizationId: tree.partner.id }, 5, new Date(Date.now() - 120_000), S3InboxState.Failed);
  });
  afterAll(() => t.close());

  it('pages the inbox by key: before=<last id> gives the next records, newest first, filters kept', async () => {
    const all = await t.dataSource.getRepository(S3InboxRecord).find({ where: { sourceId: source.id }, order: { createdAt: 'DESC', id: 'DESC' } });
    const first = await get(`/api/s3-events/inbox?source_id=${source.id}&limit=10`).expect(200);
    expect((first.body.items as Json[]).map((i) => i.id)).toEqual(all.slice(0, 10).map((r) => r.id));
    const ids: string[] = [];
    let before = (first.body.items as Json[]).at(-1)?.id as string;
    for (;;) {
      const page = await get(`/api/s3-events/inbox?source_id=${source.id}&limit=10&before=${before}`).expect(200);
      const items = page.body.items as Json[];
      if (items.length === 0) break;
      ids.push(...items.map((i) => i.id as string));
      before = items.at(-1)?.id as string;
    }
    expect(ids).toEqual(all.slice(10).map((r) => r.id));
    const failed = await get(`/api/s3-events/inbox?source_id=${source.id}&state=failed&before=${all[0].id}`).expect(200);
    expect((failed.body.items as Json[]).map((i) => i.id)).toEqual(all.filter((r) => r.state === S3InboxState.Failed).map((r) => r.id));
  });

  it('refuses a cursor that is not a record the caller can see, and before with offset (400, precise)', async () => {
    const foreign = (await createInboxRecords(t.dataSource, { id: otherSource.id, organizationId: tree.other.id }, 1, new Date()))[0];
    for (const cursor of [foreign, 'no-such-record']) {
      const res = await get(`/api/s3-events/inbox?before=${cursor}`).expect(400);
      expect(res.body.message).toBe('Invalid request: before must be the id of an inbox record you can see.');
    }
    expect((await get(`/api/s3-events/inbox?before=${foreign}&offset=1`).expect(400)).body.message).toBe('Invalid request: before and offset cannot be used together.');
    expect((await get('/api/s3-events/inbox?before=a&before=b').expect(400)).body.message).toBe('Invalid request: before must be given once.');
  });

  it('pages the sources by key', async () => {
    const more = [];
    for (let i = 0; i < 3; i++) more.push(await createSource(t, auth, { name: `more ${i}`, allowed_buckets: ['bucketA'] }));
    const all = (await get('/api/s3-events/sources').expect(200)).body.items as Json[];
    expect(all).toHaveLength(4);
    const rest = await get(`/api/s3-events/sources?limit=2&before=${all[1].id as string}`).expect(200);
    expect((rest.body.items as Json[]).map((s) => s.id)).toEqual(all.slice(2).map((s) => s.id));
    expect((await get(`/api/s3-events/sources?before=${otherSource.id}`).expect(400)).body.message).toBe('Invalid request: before must be the id of a source you can see.');
  });

  it('lists the confirmations of a source, newest first, never their Token; another organization’s source is 404', async () => {
    const confirm = (timestamp: string) =>
      request(t.server)
        .post(source.intake_path)
        .send({ Type: 'SubscriptionConfirmation', Timestamp: timestamp, TopicArn: 'owner|bucketA|s3:ObjectCreated:*', Token: 'secret-confirmation-token', SignatureVersion: 1 })
        .expect(200);
    await confirm('2024-01-01T00:00:00Z');
    await confirm('2024-01-02T00:00:00Z');
    const res = await get(`/api/s3-events/sources/${source.id}/confirmations`).expect(200);
    expect(res.body.items).toEqual([
      { id: expect.any(String), source_id: source.id, bucket: 'bucketA', topic_arn: 'owner|bucketA|s3:ObjectCreated:*', message_timestamp: '2024-01-02T00:00:00Z', confirmed_at: expect.any(String) },
      { id: expect.any(String), source_id: source.id, bucket: 'bucketA', topic_arn: 'owner|bucketA|s3:ObjectCreated:*', message_timestamp: '2024-01-01T00:00:00Z', confirmed_at: expect.any(String) },
    ]);
    expect(JSON.stringify(res.body)).not.toContain('secret-confirmation-token');
    await get(`/api/s3-events/sources/${otherSource.id}/confirmations`).expect(404);
    await get(`/api/s3-events/sources/${source.id}/confirmations`, cyberAppAuth('other', 'other-password')).expect(404);
  });

  it('documents before in OpenAPI for both lists, and the confirmations route', async () => {
    const doc = (await request(t.server).get('/api/docs-json').expect(200)).body as { paths: Record<string, Record<string, { parameters: Array<{ name: string; in: string }> }>> };
    const names = (path: string) => doc.paths[path].get.parameters.map((p) => `${p.in}:${p.name}`);
    expect(names('/api/s3-events/inbox')).toEqual(expect.arrayContaining(['query:source_id', 'query:state', 'query:bucket', 'query:limit', 'query:before', 'query:offset']));
    expect(names('/api/s3-events/sources')).toEqual(expect.arrayContaining(['query:limit', 'query:before']));
    expect(names('/api/s3-events/sources/{id}/confirmations')).toEqual(['path:id']);
  });
});

import request from 'supertest';
import { startLocalS3, LocalS3, S3RVER_KEY } from '../fakes/s3-server';
import { createTree, Tree } from '../factories/organizations';
import { createSource, notification, until } from '../factories/s3-events';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

type Json = Record<string, unknown>;

/**
 * The replicate action against real S3-compatible servers (s3rver): one holding the source and
 * the backup bucket (server-side CopyObject), and a second one (read from the first, written to it).
 */
describe('replicate action against a real local S3 server', () => {
  let t: TestApp;
  let tree: Tree;
  let auth: string;
  let s3: LocalS3;
  let other: LocalS3;

  beforeAll(async () => {
    s3 = await startLocalS3(['photos', 'photos-backup']);
    other = await startLocalS3(['offsite']);
    t = await createTestApp({ S3_EVENTS_ALLOWED_PRIVATE: '127.0.0.1/8', S3_EVENTS_POLL_MS: '50', S3_EVENTS_BACKOFF_BASE_MS: '100', S3_EVENTS_MAX_ATTEMPTS: '2' });
    tree = await createTree(t.dataSource);
    auth = cyberAppAuth('partner', tree.password);
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
    await other?.close();
  });

  const endpointOf = (server: LocalS3) => ({
    endpoint: server.endpoint,
    region: 'us-east-1',
    access_key_id: S3RVER_KEY,
    secret_access_key: S3RVER_KEY,
    force_path_style: true,
  });
  const post = (path: string, body: unknown) => request(t.server).post(path).send(body as object);
  const settledRecords = (sourceId: string, count: number) =>
    until(
      async () => (await request(t.server).get(`/api/s3-events/inbox?source_id=${sourceId}`).set('X-CyberApp-Auth', auth)).body.items as Json[],
      (items) => items.length === count && items.every((i) => i.state !== 'pending' && i.state !== 'processing'),
      20_000,
      `${count} records settled`,
    );

  it('copies a created object into the backup bucket and deletes it there once removed from the source', async () => {
    const source = await createSource(t, auth, {
      name: 'backup',
      allowed_buckets: ['photos'],
      actions: [{ type: 'replicate', ...endpointOf(s3), bucket: 'photos-backup' }],
    });
    await s3.put('photos', '2024/cat one.jpg', 'meow');
    expect((await post(source.intake_path, notification({ bucket: 'photos', key: '2024/cat one.jpg', sequencer: 1, size: 4 }))).status).toBe(200);
    const [created] = await settledRecords(source.id, 1);
    expect(created.state).toBe('done');
    expect(created.action_attempts).toEqual([expect.objectContaining({ action_type: 'replicate', operation: 'copy', success: true, note: null })]);
    expect(await s3.get('photos-backup', '2024/cat one.jpg')).toBe('meow');

    await s3.remove('photos', '2024/cat one.jpg');
    await post(source.intake_path, notification({ bucket: 'photos', key: '2024/cat one.jpg', sequencer: 2, eventName: 's3:ObjectRemoved:Delete' }));
    const items = await settledRecords(source.id, 2);
    expect(items.every((i) => i.state === 'done')).toBe(true);
    expect(await s3.exists('photos-backup', '2024/cat one.jpg')).toBe(false);
  });

  it('re-reads the source before deleting: an object that exists again is kept in the backup', async () => {
    const source = await createSource(t, auth, { name: 'reread', allowed_buckets: ['photos'], actions: [{ type: 'replicate', ...endpointOf(s3), bucket: 'photos-backup' }] });
    await s3.put('photos', 'back.txt', 'v1');
    await s3.put('photos-backup', 'back.txt', 'v1');
    await post(source.intake_path, notification({ bucket: 'photos', key: 'back.txt', sequencer: 5, eventName: 's3:ObjectRemoved:Delete' }));
    const [item] = await settledRecords(source.id, 1);
    expect(item.state).toBe('done');
    expect((item.action_attempts as Json[])[0]).toMatchObject({ success: true, note: 'kept: the object exists in the source bucket again' });
    expect(await s3.get('photos-backup', 'back.txt')).toBe('v1');
  });

  it('records a copy of an object already gone from the source as done with a note, not as a failure', async () => {
    const source = await createSource(t, auth, { name: 'gone', allowed_buckets: ['photos'], actions: [{ type: 'replicate', ...endpointOf(s3), bucket: 'photos-backup' }] });
    await post(source.intake_path, notification({ bucket: 'photos', key: 'never-there.txt', sequencer: 1 }));
    const [item] = await settledRecords(source.id, 1);
    expect(item.state).toBe('done');
    expect((item.action_attempts as Json[])[0]).toMatchObject({ success: true, note: 'skipped: the object is gone from the source bucket' });
    expect(await s3.exists('photos-backup', 'never-there.txt')).toBe(false);
  });

  it('replicates across two servers (GetObject from the source endpoint, PutObject to the target)', async () => {
    const source = await createSource(t, auth, {
      name: 'offsite',
      allowed_buckets: ['photos'],
      actions: [{ type: 'replicate', ...endpointOf(other), bucket: 'offsite', source: endpointOf(s3) }],
    });
    await s3.put('photos', 'far.txt', 'far away');
    await post(source.intake_path, notification({ bucket: 'photos', key: 'far.txt', sequencer: 1 }));
    const [item] = await settledRecords(source.id, 1);
    expect(item.state).toBe('done');
    expect(await other.get('offsite', 'far.txt')).toBe('far away');
  });

  it('retries a replicate whose target bucket does not exist, then fails the record with the S3 error recorded', async () => {
    const source = await createSource(t, auth, { name: 'nobucket', allowed_buckets: ['photos'], actions: [{ type: 'replicate', ...endpointOf(s3), bucket: 'no-such-bucket' }] });
    await s3.put('photos', 'x.txt', 'x');
    await post(source.intake_path, notification({ bucket: 'photos', key: 'x.txt', sequencer: 1 }));
    const [item] = await settledRecords(source.id, 1);
    expect(item.state).toBe('failed');
    expect(item.action_attempts as Json[]).toHaveLength(2);
    expect(item.last_error).toMatch(/NoSuchBucket/);
  });

  it('never shows the secret keys of a replicate action', async () => {
    const source = await createSource(t, auth, {
      name: 'secret',
      allowed_buckets: ['photos'],
      actions: [{ type: 'replicate', ...endpointOf(s3), secret_access_key: 'very-secret', bucket: 'b', source: { ...endpointOf(s3), secret_access_key: 'also-secret' } }],
    });
    const read = await request(t.server).get(`/api/s3-events/sources/${source.id}`).set('X-CyberApp-Auth', auth);
    for (const body of [source, read.body]) {
      expect(JSON.stringify(body)).not.toContain('"secret_access_key"');
      expect(JSON.stringify(body)).not.toContain('very-secret');
      expect(JSON.stringify(body)).not.toContain('also-secret');
    }
    expect(read.body.actions[0]).toMatchObject({ type: 'replicate', access_key_id: S3RVER_KEY, has_secret_access_key: true, source: { has_secret_access_key: true } });
  });
});

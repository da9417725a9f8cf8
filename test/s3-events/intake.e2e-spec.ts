import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { S3InboxRecord, S3InboxState } from '../../src/s3-events/s3-inbox-record.entity';
import { createTree, Tree } from '../factories/organizations';
import {
  createSource,
  SHELL,
  notification,
  PUBLISHED_CONFIRMATION,
  PUBLISHED_RECORDS,
  PUBLISHED_SIGNATURE,
  readRecorder,
  recorderAction,
  until,
} from '../factories/s3-events';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

const SLOW_MS = 1500;

describe('S3 event intake (the bucket-facing route)', () => {
  let t: TestApp;
  let tree: Tree;
  let auth: string;
  let dir: string;

  beforeAll(async () => {
    t = await createTestApp({ S3_EVENTS_ALLOWED_COMMANDS: SHELL, S3_EVENTS_POLL_MS: '50' });
    tree = await createTree(t.dataSource);
    auth = cyberAppAuth('partner', tree.password);
    dir = mkdtempSync(join(tmpdir(), 's3-intake-'));
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const req = request(t.server).post(path);
    for (const [k, v] of Object.entries(headers)) void req.set(k, v);
    return req.send(body as object);
  };

  it('answers GET /s3-events/ping with Pong, like the reference receiver', async () => {
    const res = await request(t.server).get('/s3-events/ping');
    expect(res.status).toBe(200);
    expect(res.text).toBe('Pong');
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
  });

  it.each([['X-Amz-Sns-Message-Type'], ['x-amz-sns-messages-type']])(
    'answers the published confirmation (header %s) with the published signature over the configured URL',
    async (header) => {
      const source = await createSource(t, auth, { name: 'vk', public_url: 'http://test.com', allowed_buckets: ['bucketA'] });
      const res = await post(source.intake_path, PUBLISHED_CONFIRMATION, { [header]: 'SubscriptionConfirmation' });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({ signature: PUBLISHED_SIGNATURE });
    },
  );

  it('decides by the body, not the header: a confirmation labelled Notification is still a confirmation', async () => {
    const source = await createSource(t, auth, { name: 'vk', public_url: 'http://test.com', allowed_buckets: ['bucketA'] });
    const res = await post(source.intake_path, PUBLISHED_CONFIRMATION, { 'X-Amz-Sns-Message-Type': 'Notification' });
    expect(res.body).toEqual({ signature: PUBLISHED_SIGNATURE });
  });

  it('signs the second published vector, and fills {token} in public_url with the path token', async () => {
    const vector2 = {
      Timestamp: '2020-06-15T15:01:13+03:00',
      Type: 'SubscriptionConfirmation',
      TopicArn: 'mcs5259999770|myfiles-ash|s3:ObjectCreated:*,s3:ObjectRemoved:*',
      SignatureVersion: 1,
      Token: 'E2itMqAMUVVZc51pUhFWSp13DoxezvRxkUh5P7LEuk1dEe9y',
    };
    const plain = await createSource(t, auth, { name: 'v2', public_url: 'http://89.208.199.220/webhook', allowed_buckets: ['myfiles-ash'] });
    expect((await post(plain.intake_path, vector2)).body).toEqual({ signature: '3754ce36636f80dfd606c5254d64ecb2fd8d555c27962b70b4f759f32c76b66d' });

    const templated = await createSource(t, auth, { name: 'tpl', public_url: 'https://gw.example.com/s3-events/{token}', allowed_buckets: ['myfiles-ash'] });
    const { confirmationSignature } = await import('../../src/s3-events/s3-signature');
    const expected = confirmationSignature(vector2, `https://gw.example.com/s3-events/${templated.token}`);
    expect((await post(templated.intake_path, vector2)).body).toEqual({ signature: expected });
  });

  it('stores the published Records and answers before a slow action has run', async () => {
    const log = join(dir, 'slow.log');
    const source = await createSource(t, auth, { name: 'slow', allowed_buckets: ['bucketA'], actions: [recorderAction(log, SLOW_MS)] });
    const started = Date.now();
    const res = await post(source.intake_path, PUBLISHED_RECORDS, { 'X-Amz-Sns-Message-Type': 'Notification' });
    const ackMs = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ stored: 1, duplicates: 0 });
    expect(ackMs).toBeLessThan(SLOW_MS);
    expect(readRecorder(log).filter((l) => l.phase === 'done')).toEqual([]);

    const rows = await t.dataSource.getRepository(S3InboxRecord).findBy({ sourceId: source.id });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      bucket: 'bucketA',
      objectKey: 'some-file-to-bucket',
      eventName: 's3:ObjectCreated:Put',
      etag: 'aed563ecafb4bcc5654c597a421547b2',
      sequencer: '1577453615',
      size: '100',
      organizationId: tree.partner.id,
    });
    expect(JSON.parse(rows[0].record)).toEqual(PUBLISHED_RECORDS.Records[0]);
    await until(
      () => readRecorder(log),
      (lines) => lines.some((l) => l.phase === 'done'),
      10_000,
      'the slow action finished',
    );
    expect(readRecorder(log).map((l) => [l.phase, ...l.args])).toEqual([
      ['start', 'bucketA', 'some-file-to-bucket', 'copy'],
      ['done', 'bucketA', 'some-file-to-bucket', 'copy'],
    ]);
  });

  it('takes the JSON labelled text/plain, as AWS SNS sends it', async () => {
    const source = await createSource(t, auth, { name: 'sns-style', public_url: 'http://test.com', allowed_buckets: ['bucketA'] });
    const confirm = await request(t.server).post(source.intake_path).set('Content-Type', 'text/plain; charset=UTF-8').send(JSON.stringify(PUBLISHED_CONFIRMATION));
    expect(confirm.status).toBe(200);
    expect(confirm.body).toEqual({ signature: PUBLISHED_SIGNATURE });
    const res = await request(t.server).post(source.intake_path).set('Content-Type', 'text/plain').send(JSON.stringify(PUBLISHED_RECORDS));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ stored: 1, duplicates: 0 });
    expect(await t.dataSource.getRepository(S3InboxRecord).countBy({ sourceId: source.id })).toBe(1);
  });

  it('accepts a repeated delivery without storing it twice, also within one body', async () => {
    const source = await createSource(t, auth, { name: 'dupes', allowed_buckets: ['bucketA'] });
    const body = notification({ key: 'a.txt', sequencer: 5 }, { key: 'a.txt', sequencer: 5 }, { key: 'b.txt', sequencer: 6 });
    expect((await post(source.intake_path, body)).body).toEqual({ stored: 2, duplicates: 1 });
    expect((await post(source.intake_path, body)).body).toEqual({ stored: 0, duplicates: 3 });
    // Another event name, eTag or sequencer of the same key is another event.
    const others = notification(
      { key: 'a.txt', sequencer: 5, eventName: 's3:ObjectRemoved:Delete' },
      { key: 'a.txt', sequencer: 5, eTag: 'ffff' },
      { key: 'a.txt', sequencer: 7 },
    );
    expect((await post(source.intake_path, others)).body).toEqual({ stored: 3, duplicates: 0 });
    expect(await t.dataSource.getRepository(S3InboxRecord).countBy({ sourceId: source.id })).toBe(5);
  });

  it('takes sequencer and size as numbers or strings (AWS sends hex sequencers)', async () => {
    const source = await createSource(t, auth, { name: 'forms', allowed_buckets: ['bucketA'] });
    const body = notification(
      { key: 'n.txt', sequencer: 1577453615, size: 100 },
      { key: 's.txt', sequencer: '0055AED6DCD90281E5', size: '12345678901234' },
      { key: 'd.txt', sequencer: '5e0e0f2f', eventName: 's3:ObjectRemoved:Delete' },
    );
    expect((await post(source.intake_path, body)).body).toEqual({ stored: 3, duplicates: 0 });
    const rows = await t.dataSource.getRepository(S3InboxRecord).find({ where: { sourceId: source.id }, order: { objectKey: 'ASC' } });
    expect(rows.map((r) => [r.objectKey, r.sequencer, r.seqSort, r.size, r.etag])).toEqual([
      ['d.txt', '5e0e0f2f', '5e0e0f2f'.padStart(32, '0'), null, null],
      ['n.txt', '1577453615', (1577453615).toString(16).padStart(32, '0'), '100', 'aed563ecafb4bcc5654c597a421547b2'],
      ['s.txt', '0055AED6DCD90281E5', '0055aed6dcd90281e5'.padStart(32, '0'), '12345678901234', 'aed563ecafb4bcc5654c597a421547b2'],
    ]);
    await until(
      () => t.dataSource.getRepository(S3InboxRecord).findBy({ sourceId: source.id }),
      (list) => list.every((r) => r.state === S3InboxState.Done),
      10_000,
      'records without actions done',
    );
  });
});

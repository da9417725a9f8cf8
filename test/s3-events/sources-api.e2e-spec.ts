import request from 'supertest';
import { S3ActionAttempt } from '../../src/s3-events/s3-action-attempt.entity';
import { S3EventSource } from '../../src/s3-events/s3-event-source.entity';
import { S3InboxRecord, S3InboxState } from '../../src/s3-events/s3-inbox-record.entity';
import { createUser, createTree, Tree } from '../factories/organizations';
import { createSource, SHELL, notification, PUBLISHED_CONFIRMATION, recorderAction, until } from '../factories/s3-events';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

type Json = Record<string, unknown>;

describe('S3 event sources API', () => {
  let t: TestApp;
  let tree: Tree;
  let auth: string;
  let subAuth: string;

  beforeAll(async () => {
    t = await createTestApp({ S3_EVENTS_ALLOWED_COMMANDS: SHELL, S3_EVENTS_POLL_MS: '50', S3_EVENTS_ALLOWED_PRIVATE: '127.0.0.1/8' });
    tree = await createTree(t.dataSource);
    await createUser(t.dataSource, { organizationId: tree.subPartner.id, login: 'sub', password: 'sub-password' });
    auth = cyberAppAuth('partner', tree.password);
    subAuth = cyberAppAuth('sub', 'sub-password');
  });
  afterAll(async () => {
    await t.close();
  });

  const api = (method: 'get' | 'post' | 'patch' | 'delete', path: string, who = auth) => request(t.server)[method](path).set('X-CyberApp-Auth', who);

  it('creates a source: 201 with its token and intake path once; the token is stored only as a hash', async () => {
    const res = await api('post', '/api/s3-events/sources').send({
      name: 'Backups',
      public_url: 'https://gw.example.com/s3-events/{token}',
      allowed_buckets: ['bucketA', 'bucketA', 'logs'],
      actions: [recorderAction('/tmp/x.log'), { type: 'replicate', endpoint: 'http://127.0.0.1:9000', region: 'ru-msk', bucket: 'backup', access_key_id: 'AK', secret_access_key: 'SK' }],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      organization_id: tree.partner.id,
      name: 'Backups',
      public_url: 'https://gw.example.com/s3-events/{token}',
      allowed_buckets: ['bucketA', 'logs'],
      enabled: true,
      created_by: tree.partnerUser.id,
    });
    expect(res.body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body.intake_path).toBe(`/s3-events/${res.body.token as string}`);
    expect(res.body.actions[1]).toEqual({ type: 'replicate', endpoint: 'http://127.0.0.1:9000', region: 'ru-msk', bucket: 'backup', access_key_id: 'AK', force_path_style: false, has_secret_access_key: true });
    const row = await t.dataSource.getRepository(S3EventSource).findOneByOrFail({ id: res.body.id as string });
    expect(JSON.stringify(row)).not.toContain(res.body.token as string);

    const read = await api('get', `/api/s3-events/sources/${res.body.id as string}`);
    expect(read.status).toBe(200);
    expect(read.body.token).toBeUndefined();
    expect(read.body.intake_path).toBeUndefined();
  });

  it('shows a literal token in public_url as {token}', async () => {
    const source = await createSource(t, auth, { name: 'literal', allowed_buckets: ['b'] });
    const url = `https://gw.example.com/s3-events/${source.token}`;
    const patched = await api('patch', `/api/s3-events/sources/${source.id}`).send({ public_url: url });
    expect(patched.body.public_url).toBe('https://gw.example.com/s3-events/{token}');
    // The signature still covers the exact configured URL.
    const { confirmationSignature } = await import('../../src/s3-events/s3-signature');
    const res = await request(t.server).post(source.intake_path).send({ ...PUBLISHED_CONFIRMATION, TopicArn: 'o|b|s3:ObjectCreated:*' });
    expect(res.body).toEqual({ signature: confirmationSignature({ ...PUBLISHED_CONFIRMATION, TopicArn: 'o|b|s3:ObjectCreated:*' }, url) });
  });

  it('lists the sources of the caller’s subtree only; a sub-partner sees its own', async () => {
    const mine = await createSource(t, auth, { name: 'for-customer', organization_id: tree.customers[1].id, allowed_buckets: ['b'] });
    const subs = await createSource(t, subAuth, { name: 'sub-own', allowed_buckets: ['b'] });
    const all = await api('get', '/api/s3-events/sources?limit=500');
    expect(all.body.items.map((s: Json) => s.id)).toEqual(expect.arrayContaining([mine.id, subs.id]));
    const sub = await api('get', '/api/s3-events/sources', subAuth);
    expect(sub.body.items.map((s: Json) => s.id)).toEqual([subs.id]);
    expect((await api('get', `/api/s3-events/sources/${mine.id}`, subAuth)).status).toBe(404);
    const filtered = await api('get', `/api/s3-events/sources?organization_id=${tree.customers[1].id}`);
    expect(filtered.body).toMatchObject({ total: 1, items: [{ id: mine.id }] });
  });

  it('updates a source: disabling it refuses intake; changing buckets applies at once', async () => {
    const source = await createSource(t, auth, { name: 'toggle', allowed_buckets: ['one'] });
    const body = notification({ bucket: 'two', key: 'k', sequencer: 1 });
    expect((await request(t.server).post(source.intake_path).send(body)).status).toBe(403);
    const patched = await api('patch', `/api/s3-events/sources/${source.id}`).send({ allowed_buckets: ['one', 'two'], name: 'renamed' });
    expect(patched.body).toMatchObject({ name: 'renamed', allowed_buckets: ['one', 'two'] });
    expect((await request(t.server).post(source.intake_path).send(body)).status).toBe(200);
    await api('patch', `/api/s3-events/sources/${source.id}`).send({ enabled: false }).expect(200);
    expect((await request(t.server).post(source.intake_path).send(body)).status).toBe(403);
  });

  it('rotates the token: the old path stops working, the new one works', async () => {
    const source = await createSource(t, auth, { name: 'rotate', allowed_buckets: ['b'] });
    const res = await api('post', `/api/s3-events/sources/${source.id}/rotate-token`);
    expect(res.status).toBe(200);
    expect(res.body.token).not.toBe(source.token);
    const body = notification({ bucket: 'b', key: 'k', sequencer: 1 });
    expect((await request(t.server).post(source.intake_path).send(body)).status).toBe(404);
    expect((await request(t.server).post(res.body.intake_path as string).send(body)).status).toBe(200);
  });

  it('deletes a source with its inbox and action attempts', async () => {
    const source = await createSource(t, auth, { name: 'gone', allowed_buckets: ['b'], actions: [recorderAction('/tmp/s3-gone.log')] });
    await request(t.server).post(source.intake_path).send(notification({ bucket: 'b', key: 'k', sequencer: 1 })).expect(200);
    await until(
      () => t.dataSource.getRepository(S3InboxRecord).findBy({ sourceId: source.id }),
      (rows) => rows.length === 1 && rows[0].state === S3InboxState.Done,
      10_000,
      'record done',
    );
    const recordId = (await t.dataSource.getRepository(S3InboxRecord).findOneByOrFail({ sourceId: source.id })).id;
    expect(await t.dataSource.getRepository(S3ActionAttempt).countBy({ inboxId: recordId })).toBe(1);
    await api('delete', `/api/s3-events/sources/${source.id}`).expect(204);
    expect(await t.dataSource.getRepository(S3InboxRecord).countBy({ sourceId: source.id })).toBe(0);
    expect(await t.dataSource.getRepository(S3ActionAttempt).countBy({ inboxId: recordId })).toBe(0);
    expect((await request(t.server).post(source.intake_path).send(notification({ bucket: 'b', key: 'k', sequencer: 2 }))).status).toBe(404);
  });
});

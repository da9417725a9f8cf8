import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { DomainEvent } from '../../src/events/event.entity';
import { S3InboxRecord, S3InboxState } from '../../src/s3-events/s3-inbox-record.entity';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { createTree, Tree } from '../factories/organizations';
import { createSource, SHELL, notification, PUBLISHED_RECORDS, readRecorder, recorderAction, until } from '../factories/s3-events';
import { createSubscription } from '../factories/webhooks';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

type Json = Record<string, unknown>;

describe('S3 inbox worker: events into the core, command actions, stale events, retries, replay', () => {
  let t: TestApp;
  let tree: Tree;
  let auth: string;
  let dir: string;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    t = await createTestApp({
      S3_EVENTS_ALLOWED_COMMANDS: SHELL,
      S3_EVENTS_POLL_MS: '50',
      S3_EVENTS_BACKOFF_BASE_MS: '200',
      S3_EVENTS_BACKOFF_MAX_MS: '400',
      S3_EVENTS_MAX_ATTEMPTS: '3',
      WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8',
      WEBHOOKS_POLL_MS: '50',
    });
    tree = await createTree(t.dataSource);
    auth = cyberAppAuth('partner', tree.password);
    dir = mkdtempSync(join(tmpdir(), 's3-worker-'));
    receiver = await startWebhookReceiver({ secret: 'whsec_' + Buffer.alloc(32, 7).toString('base64') });
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown) => request(t.server).post(path).send(body as object);
  const inbox = async (query: string): Promise<Json[]> => {
    const res = await request(t.server).get(`/api/s3-events/inbox?${query}`).set('X-CyberApp-Auth', auth);
    expect(res.status).toBe(200);
    return res.body.items as Json[];
  };
  const settled = (query: string, count: number) =>
    until(
      () => inbox(query),
      (items) => items.length === count && items.every((i) => i.state !== S3InboxState.Pending && i.state !== S3InboxState.Processing),
      20_000,
      `${count} records settled (${query})`,
    );

  it('emits s3.object.created / s3.object.removed once per record; webhook subscribers of the organization receive them', async () => {
    const org = tree.customers[0];
    await createSubscription(t.dataSource, { organizationId: org.id, payloadUrl: receiver.url, secret: 'whsec_' + Buffer.alloc(32, 7).toString('base64') });
    const source = await createSource(t, auth, { name: 'events', organization_id: org.id, allowed_buckets: ['bucketA'] });
    const body = notification({ key: 'doc.pdf', sequencer: 10, size: 5 }, { key: 'doc.pdf', sequencer: 11, eventName: 's3:ObjectRemoved:Delete' });
    expect((await post(source.intake_path, body)).body).toEqual({ stored: 2, duplicates: 0 });
    await post(source.intake_path, body);
    await settled(`source_id=${source.id}`, 2);

    const deliveries = await receiver.waitFor(2, 10_000);
    const events = deliveries.map((d) => d.json as Json).sort((a, b) => String(a.type).localeCompare(String(b.type)));
    expect(events.map((e) => [e.type, e.organization_id, (e.data as Json).key, (e.data as Json).sequencer])).toEqual([
      ['s3.object.created', org.id, 'doc.pdf', '10'],
      ['s3.object.removed', org.id, 'doc.pdf', '11'],
    ]);
    expect(events[0].data).toMatchObject({ source_id: source.id, source_name: 'events', bucket: 'bucketA', event_name: 's3:ObjectCreated:Put', size: 5 });
    expect(deliveries.every((d) => d.verified.standard === true)).toBe(true);
    const stored = await t.dataSource.getRepository(DomainEvent).find({ where: { organizationId: org.id } });
    expect(stored.filter((e) => e.type.startsWith('s3.object.'))).toHaveLength(2);
  });

  it('runs the command action with <bucket> <key> <copy|delete> and records exit code and output', async () => {
    const log = join(dir, 'contract.log');
    const source = await createSource(t, auth, { name: 'cmd', allowed_buckets: ['bucketA', 'bucketB'], actions: [recorderAction(log)] });
    await post(source.intake_path, PUBLISHED_RECORDS);
    await post(source.intake_path, notification({ bucket: 'bucketB', key: 'dir/with space/ü.txt', sequencer: 3, eventName: 's3:ObjectRemoved:Delete' }));
    const items = await settled(`source_id=${source.id}`, 2);
    expect(readRecorder(log).filter((l) => l.phase === 'done').map((l) => l.args)).toEqual(
      expect.arrayContaining([
        ['bucketA', 'some-file-to-bucket', 'copy'],
        ['bucketB', 'dir/with space/ü.txt', 'delete'],
      ]),
    );
    for (const item of items) {
      expect(item.state).toBe('done');
      expect(item.action_attempts).toEqual([
        expect.objectContaining({ action_index: 0, action_type: 'command', attempt: 1, success: true, exit_code: 0, stderr: null, error: null }),
      ]);
    }
    const removed = items.find((i) => i.bucket === 'bucketB') as Json;
    expect((removed.action_attempts as Json[])[0].stdout).toBe('delete bucketB/dir/with space/ü.txt\n');
    expect((removed.action_attempts as Json[])[0].operation).toBe('delete');
  });

  it('retries a failing command with backoff, runs it until it succeeds, and fails a record after S3_EVENTS_MAX_ATTEMPTS', async () => {
    const flaky = join(dir, 'flaky.log');
    const broken = join(dir, 'broken.log');
    const flakySource = await createSource(t, auth, { name: 'flaky', allowed_buckets: ['bucketA'], actions: [recorderAction(flaky, 0, 2)] });
    const brokenSource = await createSource(t, auth, { name: 'broken', allowed_buckets: ['bucketA'], actions: [recorderAction(broken, 0, 99)] });
    await post(flakySource.intake_path, notification({ key: 'f.txt', sequencer: 1 }));
    await post(brokenSource.intake_path, notification({ key: 'b.txt', sequencer: 1 }));

    const [ok] = await settled(`source_id=${flakySource.id}`, 1);
    expect(ok.state).toBe('done');
    expect(ok.attempts).toBe(3);
    const runs = ok.action_attempts as Json[];
    expect(runs.map((r) => [r.attempt, r.success, r.exit_code])).toEqual([
      [1, false, 3],
      [2, false, 3],
      [3, true, 0],
    ]);
    expect(runs[0].error).toBe('exit code 3');
    expect(runs[0].stderr).toBe('simulated failure 1 of 2\n');
    expect(readRecorder(flaky).map((l) => l.phase)).toEqual(['start', 'fail', 'start', 'fail', 'start', 'done']);

    const [failed] = await settled(`source_id=${brokenSource.id}`, 1);
    expect(failed.state).toBe('failed');
    expect(failed.attempts).toBe(3);
    expect(failed.last_error).toBe('actions[0] command: exit code 3');
    expect(readRecorder(broken).filter((l) => l.phase === 'start')).toHaveLength(3);
  });

  it('kills a command that outlives its timeout and records it as failed', async () => {
    const log = join(dir, 'timeout.log');
    const source = await createSource(t, auth, { name: 'timeout', allowed_buckets: ['bucketA'], actions: [recorderAction(log, 5000, 0, 300)] });
    await post(source.intake_path, notification({ key: 't.txt', sequencer: 1 }));
    const [item] = await until(
      () => inbox(`source_id=${source.id}`),
      (items) => (items[0]?.action_attempts as Json[] | undefined)?.length === 1,
      10_000,
      'one timed-out run',
    );
    const run = (item.action_attempts as Json[])[0];
    expect(run).toMatchObject({ success: false, exit_code: null, error: 'timed out after 300 ms (killed)' });
    expect(run.duration_ms as number).toBeLessThan(3000);
    expect(readRecorder(log).filter((l) => l.phase === 'done')).toEqual([]);
  });

  it('skips an event older (by sequencer) than one already acted on for the same key, and acts on the rest in order', async () => {
    const log = join(dir, 'stale.log');
    const source = await createSource(t, auth, { name: 'stale', allowed_buckets: ['bucketA'], actions: [recorderAction(log)] });
    await post(source.intake_path, notification({ key: 'k', sequencer: 'A0' }, { key: 'k', sequencer: 'B0', eventName: 's3:ObjectRemoved:Delete' }));
    await settled(`source_id=${source.id}`, 2);
    // A late delivery of an older create: acting on it would resurrect a deleted object.
    await post(source.intake_path, notification({ key: 'k', sequencer: '9F' }));
    const items = await settled(`source_id=${source.id}`, 3);
    const late = items.find((i) => i.sequencer === '9F') as Json;
    expect(late.state).toBe('skipped_stale');
    expect(late.last_error).toContain('B0');
    expect(late.event_emitted).toBe(false);
    expect(late.action_attempts).toEqual([]);
    expect(readRecorder(log).filter((l) => l.phase === 'done').map((l) => l.args[2])).toEqual(['copy', 'delete']);
  });

  it('runs the events of one key one at a time in sequencer order, even when they arrive out of order in one body', async () => {
    const log = join(dir, 'order.log');
    const source = await createSource(t, auth, { name: 'order', allowed_buckets: ['bucketA'], actions: [recorderAction(log, 100)] });
    await post(
      source.intake_path,
      notification({ key: 'o', sequencer: 3 }, { key: 'o', sequencer: 1 }, { key: 'o', sequencer: 2, eventName: 's3:ObjectRemoved:Delete' }),
    );
    await settled(`source_id=${source.id}`, 3);
    const lines = readRecorder(log);
    expect(lines.map((l) => `${l.phase}:${l.args[2]}`)).toEqual(['start:copy', 'done:copy', 'start:delete', 'done:delete', 'start:copy', 'done:copy']);
  });

  it('replays a finished record through the API: its actions run again, its event is not recorded again', async () => {
    const log = join(dir, 'replay.log');
    const source = await createSource(t, auth, { name: 'replay', allowed_buckets: ['bucketA'], actions: [recorderAction(log)] });
    await post(source.intake_path, notification({ key: 'r', sequencer: 1 }));
    const [item] = await settled(`source_id=${source.id}`, 1);
    const eventsBefore = await t.dataSource.getRepository(DomainEvent).count();
    const res = await request(t.server).post(`/api/s3-events/inbox/${item.id as string}/replay`).set('X-CyberApp-Auth', auth);
    expect(res.status).toBe(202);
    expect(res.body.state).toBe('pending');
    const [again] = await until(
      () => inbox(`source_id=${source.id}`),
      (items) => items[0].state === 'done' && (items[0].action_attempts as Json[]).length === 2,
      10_000,
      'replayed',
    );
    expect((again.action_attempts as Json[]).map((a) => a.attempt)).toEqual([1, 2]);
    expect(readRecorder(log).filter((l) => l.phase === 'done')).toHaveLength(2);
    expect(await t.dataSource.getRepository(DomainEvent).count()).toBe(eventsBefore);

    const busy = await createSource(t, auth, { name: 'busy', allowed_buckets: ['bucketA'], actions: [recorderAction(join(dir, 'busy.log'), 2000)] });
    await post(busy.intake_path, notification({ key: 'x', sequencer: 1 }));
    const [running] = await inbox(`source_id=${busy.id}`);
    const conflict = await request(t.server).post(`/api/s3-events/inbox/${running.id as string}/replay`).set('X-CyberApp-Auth', auth);
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe('CONFLICT');
  });

  it('lists the inbox filtered by source, state and bucket, newest first', async () => {
    const source = await createSource(t, auth, { name: 'filters', allowed_buckets: ['b1', 'b2'] });
    await post(source.intake_path, notification({ bucket: 'b1', key: 'x', sequencer: 1 }, { bucket: 'b2', key: 'y', sequencer: 1 }));
    await settled(`source_id=${source.id}`, 2);
    expect((await inbox(`source_id=${source.id}&bucket=b2`)).map((i) => i.key)).toEqual(['y']);
    expect(await inbox(`source_id=${source.id}&state=failed`)).toEqual([]);
    expect(await inbox(`source_id=${source.id}&state=done&limit=1`)).toHaveLength(1);
    const rows = await t.dataSource.getRepository(S3InboxRecord).countBy({ sourceId: source.id, state: S3InboxState.Done });
    expect(rows).toBe(2);
  });
});

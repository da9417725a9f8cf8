import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { S3InboxRecord } from '../../src/s3-events/s3-inbox-record.entity';
import { createTree, Tree } from '../factories/organizations';
import { createSource, notification, readRecorder, recorderAction, SHELL, until } from '../factories/s3-events';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';

const COMMAND_MS = 2500;

describe('S3 inbox worker that loses its claim while actions run', () => {
  let t: TestApp;
  let tree: Tree;
  let auth: string;
  let dir: string;

  beforeAll(async () => {
    t = await createTestApp({ S3_EVENTS_ALLOWED_COMMANDS: SHELL, S3_EVENTS_POLL_MS: '50', S3_EVENTS_CLAIM_TTL_MS: '300' });
    tree = await createTree(t.dataSource);
    auth = cyberAppAuth('partner', tree.password);
    dir = mkdtempSync(join(tmpdir(), 's3-lost-claim-'));
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kills the running command and runs none of the remaining actions once another worker holds the record', async () => {
    const first = join(dir, 'first.log');
    const second = join(dir, 'second.log');
    const source = await createSource(t, auth, { name: 'lost', allowed_buckets: ['bucketA'], actions: [recorderAction(first, COMMAND_MS), recorderAction(second)] });
    expect((await request(t.server).post(source.intake_path).send(notification({ key: 'k', sequencer: 1 }))).status).toBe(200);
    const [started] = await until(() => readRecorder(first), (lines) => lines.length > 0, 10_000, 'the first action started');

    // Another worker's claim, as the claim query makes it once this one has expired (say, after a long pause).
    const inbox = t.dataSource.getRepository(S3InboxRecord);
    const row = await inbox.findOneByOrFail({ sourceId: source.id });
    await inbox.update({ id: row.id }, { attempts: row.attempts + 1, lockedUntil: new Date(Date.now() + 60_000) });

    await new Promise((resolve) => setTimeout(resolve, COMMAND_MS + 1000));
    expect(readRecorder(first).filter((l) => l.phase === 'done' && l.pid === started.pid)).toEqual([]);
    expect(readRecorder(second)).toEqual([]);
  });
});

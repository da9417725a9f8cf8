import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { S3InboxRecord, S3InboxState } from '../../src/s3-events/s3-inbox-record.entity';
import { openDataSource } from '../cli/cli-process';
import { createTree } from '../factories/organizations';
import { createSource, SHELL, notification, readRecorder, recorderAction, until } from '../factories/s3-events';
import { httpCall, ServiceProcess, sleep, startWorkerService } from '../process/service-process';
import { createTestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';

const RECORDS = 40;
const CONCURRENCY = 4;
/** How long each command runs: long enough that a kill always cuts some in the middle. */
const COMMAND_MS = 400;
const CLAIM_TTL_MS = 2000;
const KILL_AFTER_DONE = 10;
/** No command completed within this long before the kill. */
const QUIET_MS = 80;
/** The kill lands on a command started at most this long ago (so it has at least COMMAND_MS minus this to run). */
const RUNNING_LEFT_MS = COMMAND_MS / 2;
const KILL_POLL_MS = 5;

jest.setTimeout(180_000);

/**
 * A worker process SIGKILLed while commands run, then started again. The recorder command writes
 * `start` when it begins and `done` when it completes; commands run under `setpriv --pdeathsig
 * KILL`, so those cut by the kill die with the worker and never write `done`. Every record must
 * end done, and no command may complete twice for one record: the cut ones run again (a second
 * `start`) once their claim expires.
 */
describe('S3 inbox worker killed mid-action, then started again', () => {
  let database: TestDatabase;
  let dir: string;
  let log: string;
  let intakePath: string;
  let ds: DataSource | undefined;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 's3-crash-'));
    log = join(dir, 'calls.log');
    const t = await createTestApp({ S3_EVENTS_WORKER_ENABLED: 'false', S3_EVENTS_ALLOWED_COMMANDS: SHELL }, database);
    try {
      const tree = await createTree(t.dataSource);
      const source = await createSource(t, cyberAppAuth('partner', tree.password), {
        name: 'crash',
        allowed_buckets: ['bucketA'],
        actions: [recorderAction(log, COMMAND_MS)],
      });
      intakePath = source.intake_path;
    } finally {
      await t.close();
    }
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.kill()));
    await ds?.destroy();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startService(): Promise<ServiceProcess> {
    const service = await startWorkerService(database, {
      S3_EVENTS_ALLOWED_COMMANDS: SHELL,
      S3_EVENTS_CONCURRENCY: String(CONCURRENCY),
      S3_EVENTS_CLAIM_TTL_MS: String(CLAIM_TTL_MS),
      S3_EVENTS_POLL_MS: '100',
    });
    services.push(service);
    await service.waitUntilListening();
    return service;
  }

  it('acts on every record; commands cut by the kill die with it and run again; none completes twice', async () => {
    const first = await startService();
    const keys = Array.from({ length: RECORDS }, (_, n) => `object-${String(n).padStart(3, '0')}`);
    for (let n = 0; n < RECORDS; n += 10) {
      const body = notification(...keys.slice(n, n + 10).map((key, i) => ({ key, sequencer: n + i + 1 })));
      const res = await httpCall(first.port as number, { path: intakePath, body });
      expect(res.status).toBe(200);
    }
    await until(
      () => readRecorder(log).filter((l) => l.phase === 'done').length,
      (done) => done >= KILL_AFTER_DONE,
      60_000,
      `${KILL_AFTER_DONE} commands done`,
    );
    // Kill while a command runs with time left to run (so the kill surely lands in its middle, not
    // between commands), and not just after one completed (its outcome may not be recorded yet: the
    // at-least-once window, checked separately below). Polled tightly: a looser poll lets the chosen
    // command finish before the kill.
    await until(
      () => {
        const lines = readRecorder(log);
        const done = new Set(lines.filter((l) => l.phase === 'done').map((l) => l.args[1]));
        const lastDone = Math.max(...lines.filter((l) => l.phase === 'done').map((l) => l.at));
        const now = Date.now();
        const fresh = lines.filter((l) => l.phase === 'start' && !done.has(l.args[1]) && now - l.at <= RUNNING_LEFT_MS);
        return { fresh: fresh.length, quietMs: now - lastDone };
      },
      ({ fresh, quietMs }) => fresh > 0 && quietMs >= QUIET_MS,
      10_000,
      'a command running with time left',
      KILL_POLL_MS,
    );
    await first.kill();
    const atKill = readRecorder(log);
    const doneAtKill = new Set(atKill.filter((l) => l.phase === 'done').map((l) => l.args[1]));
    const cut = new Set(atKill.filter((l) => l.phase === 'start' && !doneAtKill.has(l.args[1])).map((l) => l.args[1]));
    expect(cut.size).toBeGreaterThan(0);
    expect(cut.size).toBeLessThanOrEqual(CONCURRENCY);

    // The cut commands died with the worker: longer than they take, and none completed.
    await sleep(COMMAND_MS * 3);
    expect(readRecorder(log).filter((l) => l.phase === 'done' && cut.has(l.args[1]))).toEqual([]);

    ds = await openDataSource(database);
    const inbox = ds.getRepository(S3InboxRecord);
    const rowsAtKill = await inbox.find();
    expect(rowsAtKill).toHaveLength(RECORDS);
    const processingAtKill = new Set(rowsAtKill.filter((r) => r.state === S3InboxState.Processing).map((r) => r.objectKey));
    const doneInDbAtKill = new Set(rowsAtKill.filter((r) => r.state === S3InboxState.Done).map((r) => r.objectKey));
    for (const key of cut) expect(processingAtKill.has(key)).toBe(true);

    const second = await startService();
    const restartedAt = Date.now();
    await until(
      () => inbox.countBy({ state: S3InboxState.Done }),
      (n) => n === RECORDS,
      90_000,
      `all ${RECORDS} records done (service output:\n${second.output.slice(-3000)})`,
    );
    const finishedMs = Date.now() - restartedAt;
    await sleep(COMMAND_MS);
    await second.kill();

    const lines = readRecorder(log);
    const count = (key: string, phase: string) => lines.filter((l) => l.args[1] === key && l.phase === phase).length;
    // Every record acted on; a command completed more than once only if it had completed but its outcome was not yet
    // recorded when the kill came (the documented at-least-once window): none of those here beyond that.
    const twice = keys.filter((key) => count(key, 'done') !== 1);
    expect(twice.filter((key) => !(count(key, 'done') === 2 && doneAtKill.has(key) && !doneInDbAtKill.has(key)))).toEqual([]);
    expect(keys.filter((key) => count(key, 'done') === 0)).toEqual([]);
    for (const key of cut) expect(count(key, 'start')).toBe(2);
    expect(keys.filter((key) => !cut.has(key) && !processingAtKill.has(key) && count(key, 'start') !== 1)).toEqual([]);

    const rows = await inbox.find();
    expect(rows.filter((r) => r.actionsDone.join() !== '0' || r.completedAt === null)).toEqual([]);
    expect(rows.filter((r) => r.attempts !== (processingAtKill.has(r.objectKey) ? 2 : 1)).map((r) => [r.objectKey, r.attempts])).toEqual([]);

    // The at-least-once window: from a command's completion to its outcome's commit.
    const doneAt = new Map(lines.filter((l) => l.phase === 'done').map((l) => [l.args[1], l.at]));
    const gaps = rows.map((r) => (r.completedAt as Date).getTime() - (doneAt.get(r.objectKey) ?? 0)).sort((a, b) => a - b);
    process.stdout.write(
      `s3-events crash (${TEST_DB}): ${doneAtKill.size} commands done before the kill, ${cut.size} cut and run again, ` +
        `${processingAtKill.size} records claimed at the kill, ${twice.length} completed twice (completed, not yet recorded at the kill); all ${RECORDS} done ` +
        `${(finishedMs / 1000).toFixed(1)} s after the restart; completion to recorded outcome: median ${gaps[gaps.length >> 1]} ms, ` +
        `max ${gaps[gaps.length - 1]} ms\n`,
    );
  });
});

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import request from 'supertest';
import type { TestApp } from '../setup/create-test-app';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { S3InboxRecord, S3InboxState } from '../../src/s3-events/s3-inbox-record.entity';

/** The recorder command action (test/fixtures/s3-recorder.sh), run by this shell (argv[0], the allow-listed executable). */
export const RECORDER = resolve(__dirname, '../fixtures/s3-recorder.sh');
export const SHELL = '/bin/sh';

/** The exact confirmation of docs/protocols.md, S3 bucket event intake (first test vector), for a source whose public_url is http://test.com. */
export const PUBLISHED_CONFIRMATION = {
  Timestamp: '2019-12-26T19:29:12+03:00',
  Type: 'SubscriptionConfirmation',
  Message: 'You have chosen to subscribe to the topic $topic. To confirm the subscription you need to response with calculated signature',
  TopicArn: 'mcs2883541269|bucketA|s3:ObjectCreated:Put',
  SignatureVersion: 1,
  Token: 'RPE5UuG94rGgBH6kHXN9FUPugFxj1hs2aUQc99btJp3E49tA',
};
export const PUBLISHED_SIGNATURE = 'ea3fce4bb15c6de4fec365d36bcebbc34ccddf54616d5ca12e1972f82b6d37af';

/** The exact Notification of docs/protocols.md, S3 bucket event intake. */
export const PUBLISHED_RECORDS = {
  Records: [
    {
      s3: {
        object: { eTag: 'aed563ecafb4bcc5654c597a421547b2', sequencer: 1577453615, key: 'some-file-to-bucket', size: 100 },
        configurationId: '1',
        bucket: { name: 'bucketA', ownerIdentity: { principalId: 'mcs2883541269' } },
        s3SchemaVersion: '1.0',
      },
      eventVersion: '1.0',
      requestParameters: { sourceIPAddress: '185.6.245.156' },
      userIdentity: { principalId: '2407013e-cbc1-415f-9102-16fb9bd6946b' },
      eventName: 's3:ObjectCreated:Put',
      awsRegion: 'ru-msk',
      eventSource: 'aws:s3',
      responseElements: { 'x-amz-request-id': 'VGJR5rtJ' },
    },
  ],
};

export interface RecordInput {
  bucket?: string;
  key: string;
  eventName?: string;
  sequencer?: number | string;
  eTag?: string;
  size?: number | string;
}

/** One record in the published shape. */
export function s3Record(input: RecordInput): Record<string, unknown> {
  const object: Record<string, unknown> = { key: input.key, sequencer: input.sequencer ?? 1 };
  if (input.eTag !== undefined) object.eTag = input.eTag;
  else if (!(input.eventName ?? '').includes('Removed')) object.eTag = 'aed563ecafb4bcc5654c597a421547b2';
  if (input.size !== undefined) object.size = input.size;
  return {
    s3: { object, configurationId: '1', bucket: { name: input.bucket ?? 'bucketA', ownerIdentity: { principalId: 'mcs2883541269' } }, s3SchemaVersion: '1.0' },
    eventVersion: '1.0',
    eventName: input.eventName ?? 's3:ObjectCreated:Put',
    awsRegion: 'ru-msk',
    eventSource: 'aws:s3',
  };
}

export function notification(...records: RecordInput[]): { Records: Array<Record<string, unknown>> } {
  return { Records: records.map(s3Record) };
}

export interface RecorderLine {
  phase: 'start' | 'done' | 'fail';
  args: [string, string, string];
  pid: number;
  at: number;
}

/** The recorder's log, one entry a line (empty if it never ran). */
export function readRecorder(file: string): RecorderLine[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RecorderLine);
}

/** A recorder command action writing to `file`. */
export function recorderAction(file: string, sleepMs = 0, failures = 0, timeoutMs?: number): Record<string, unknown> {
  return { type: 'command', command: [SHELL, RECORDER, file, String(sleepMs), String(failures)], ...(timeoutMs ? { timeout_ms: timeoutMs } : {}) };
}

export interface CreatedSource {
  id: string;
  token: string;
  intake_path: string;
  [field: string]: unknown;
}

/** Creates a source through the API (the only way to learn its token). */
export async function createSource(t: TestApp, auth: string, body: Record<string, unknown>): Promise<CreatedSource> {
  const res = await request(t.server).post('/api/s3-events/sources').set('X-CyberApp-Auth', auth).send(body);
  if (res.status !== 201) throw new Error(`source not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as CreatedSource;
}

export async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs: number, what: string, pollMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms; last: ${JSON.stringify(value)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * `n` inbox records of a source inserted directly (as the intake stores them), one a millisecond
 * from `start` on, all in `state`; oldest first. Their ids.
 */
export async function createInboxRecords(
  ds: DataSource,
  source: { id: string; organizationId: string },
  n: number,
  start: Date,
  state: S3InboxState = S3InboxState.Done,
): Promise<string[]> {
  const ids: string[] = [];
  const rows = Array.from({ length: n }, (_, i) => {
    const at = new Date(start.getTime() + i);
    const id = randomUUID();
    ids.push(id);
    return {
      id, sourceId: source.id, organizationId: source.organizationId, bucket: 'bucketA', objectKey: `bulk/${i}.txt`, eventName: 's3:ObjectCreated:Put',
      etag: null, sequencer: String(i + 1), seqSort: (i + 1).toString(16).padStart(32, '0'), size: '1', dedupeKey: randomUUID().replace(/-/g, '').repeat(2),
      record: '{}', state, attempts: state === S3InboxState.Pending ? 0 : 1, attemptBase: 0, emitted: true, forced: false, actionsDone: [] as number[],
      nextAttemptAt: at, lockedUntil: null, lastError: state === S3InboxState.Failed ? 'simulated' : null, createdAt: at, updatedAt: at, completedAt: state === S3InboxState.Pending ? null : at,
    };
  });
  for (let i = 0; i < rows.length; i += 200) await ds.manager.insert(S3InboxRecord, rows.slice(i, i + 200));
  return ids;
}

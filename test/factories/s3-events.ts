import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import request from 'supertest';
import type { TestApp } from '../setup/create-test-app';

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

export async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms; last: ${JSON.stringify(value)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

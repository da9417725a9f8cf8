import { createHash } from 'node:crypto';
import { DomainError, ErrorCode } from '../common/domain-error';
import { S3Operation } from './s3-action.types';
import type { ConfirmationFields } from './s3-signature';

export interface ParsedConfirmation {
  kind: 'confirmation';
  fields: ConfirmationFields;
  /** The bucket named by `TopicArn` (`<owner>|<bucket>|<events>`). */
  bucket: string;
}

/** One validated record of a Notification, ready for the inbox. */
export interface ParsedRecord {
  bucket: string;
  key: string;
  eventName: string;
  operation: S3Operation;
  etag: string | null;
  sequencer: string;
  seqSort: string;
  size: string | null;
  dedupeKey: string;
  /** The record as received, re-serialized. */
  raw: string;
}

export interface ParsedRecords {
  kind: 'records';
  records: ParsedRecord[];
}

const MAX_KEY_BYTES = 1024;
const MAX_ETAG = 255;
const MAX_EVENT_NAME = 128;
const HEX_SEQUENCER = /^[0-9a-fA-F]{1,32}$/;
const DIGITS = /^[0-9]{1,20}$/;
// AWS also reports the API call's name (PutObject, DeleteObject...) in some setups; the reference receiver maps those too.
const CREATED = /^(s3:)?ObjectCreated(:[A-Za-z*]+)?$|^(PutObject|PutObjectCopy|CopyObject|CompleteMultipartUpload)$/;
const REMOVED = /^(s3:)?ObjectRemoved(:[A-Za-z*]+)?$|^DeleteObject$/;

const bad = (message: string): DomainError => new DomainError(ErrorCode.ValidationFailed, message);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Decides by the parsed body (docs/protocols.md, S3 bucket event intake), not by `X-Amz-Sns-Message-Type`: `Type ==
 * "SubscriptionConfirmation"` is a confirmation, a `Records` array carries events, anything else
 * is a 400. Every record is checked before any is stored.
 */
export function parseNotification(body: unknown, maxRecords: number): ParsedConfirmation | ParsedRecords {
  if (!isObject(body)) throw bad('The body must be a JSON object: a SubscriptionConfirmation or a Notification with Records.');
  if (body.Type === 'SubscriptionConfirmation') return parseConfirmation(body);
  if (Array.isArray(body.Records)) {
    if (body.Records.length === 0) throw bad('Records must not be empty.');
    if (body.Records.length > maxRecords) throw new DomainError(ErrorCode.PayloadTooLarge, `At most ${maxRecords} records per request.`);
    return { kind: 'records', records: body.Records.map((r, i) => parseRecord(r, i)) };
  }
  throw bad('The body is neither a SubscriptionConfirmation (Type) nor a Notification (a Records array).');
}

function parseConfirmation(body: Record<string, unknown>): ParsedConfirmation {
  for (const field of ['Token', 'Timestamp', 'TopicArn'] as const) {
    const value = body[field];
    if (typeof value !== 'string' || value.length === 0 || value.length > 4096) throw bad(`${field} must be a non-empty string.`);
  }
  const fields = { Token: body.Token as string, Timestamp: body.Timestamp as string, TopicArn: body.TopicArn as string };
  const parts = fields.TopicArn.split('|');
  if (parts.length !== 3 || parts[1].length === 0) throw bad('TopicArn must be <owner>|<bucket>|<events>.');
  return { kind: 'confirmation', fields, bucket: parts[1] };
}

function parseRecord(value: unknown, index: number): ParsedRecord {
  const at = `Records[${index}]`;
  if (!isObject(value)) throw bad(`${at} must be an object.`);
  const eventName = value.eventName;
  if (typeof eventName !== 'string' || eventName.length === 0 || eventName.length > MAX_EVENT_NAME) throw bad(`${at}.eventName must be a non-empty string.`);
  const operation = CREATED.test(eventName) ? S3Operation.Copy : REMOVED.test(eventName) ? S3Operation.Delete : null;
  if (!operation) throw bad(`${at}.eventName must be an ObjectCreated or ObjectRemoved event.`);
  const s3 = value.s3;
  if (!isObject(s3) || !isObject(s3.bucket) || !isObject(s3.object)) throw bad(`${at}.s3 must hold bucket and object.`);
  const bucket = s3.bucket.name;
  if (typeof bucket !== 'string' || bucket.length === 0 || bucket.length > 255) throw bad(`${at}.s3.bucket.name must be a non-empty string.`);
  const object = s3.object;
  const key = object.key;
  if (typeof key !== 'string' || key.length === 0 || Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw bad(`${at}.s3.object.key must be a non-empty string of at most ${MAX_KEY_BYTES} bytes.`);
  }
  const etag = object.eTag ?? null;
  if (etag !== null && (typeof etag !== 'string' || etag.length > MAX_ETAG)) throw bad(`${at}.s3.object.eTag must be a string.`);
  const sequencer = sequencerOf(object.sequencer);
  if (!sequencer) throw bad(`${at}.s3.object.sequencer must be a non-negative integer or a hex string of at most 32 digits.`);
  const size = sizeOf(object.size);
  if (size === undefined) throw bad(`${at}.s3.object.size must be a non-negative integer (number or string).`);
  // The sequencer by value (its sort form): the number 16 and the hex string "16" are different sequencers.
  const dedupeKey = createHash('sha256').update(JSON.stringify([bucket, key, etag ?? '', sequencer.sort, eventName])).digest('hex');
  return { bucket, key, eventName, operation, etag, sequencer: sequencer.text, seqSort: sequencer.sort, size, dedupeKey, raw: JSON.stringify(value) };
}

/**
 * A number (VK Cloud) is read as decimal, a string (AWS sends hex) as hex; both become 32 hex
 * digits so that comparing the text compares the sequencers.
 */
function sequencerOf(value: unknown): { text: string; sort: string } | null {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) return null;
    return { text: String(value), sort: value.toString(16).padStart(32, '0') };
  }
  if (typeof value === 'string' && HEX_SEQUENCER.test(value)) return { text: value, sort: value.toLowerCase().padStart(32, '0') };
  return null;
}

/** The size as decimal text, null when absent (removals carry none); undefined when malformed. */
function sizeOf(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? String(value) : undefined;
  if (typeof value === 'string' && DIGITS.test(value)) return String(BigInt(value));
  return undefined;
}

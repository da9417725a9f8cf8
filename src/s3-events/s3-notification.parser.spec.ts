import { DomainError } from '../common/domain-error';
import { parseNotification, ParsedRecords } from './s3-notification.parser';

const record = (object: Record<string, unknown>, eventName = 's3:ObjectCreated:Put') => ({ eventName, s3: { bucket: { name: 'b' }, object: { key: 'k', ...object } } });
const parse = (...records: unknown[]) => (parseNotification({ Records: records }, 100) as ParsedRecords).records;

describe('parseNotification', () => {
  it('orders sequencers as numbers whatever their length: decimal numbers and hex strings', () => {
    const [a, b, c, d] = parse(record({ sequencer: 9 }), record({ sequencer: 10 }), record({ sequencer: '0A' }), record({ sequencer: '0055AED6DCD90281E5' }));
    expect(a.seqSort < b.seqSort).toBe(true);
    expect(b.seqSort).toBe(c.seqSort);
    expect(c.seqSort < d.seqSort).toBe(true);
    expect([a.seqSort, d.seqSort].every((s) => s.length === 32)).toBe(true);
  });

  it('maps created and removed events, the reference receiver’s API names included', () => {
    const names = ['s3:ObjectCreated:Put', 's3:ObjectCreated:*', 's3:ObjectCreated:CompleteMultipartUpload', 'PutObjectCopy', 's3:ObjectRemoved:Delete', 'DeleteObject'];
    expect(parse(...names.map((n) => record({ sequencer: 1 }, n))).map((r) => r.operation)).toEqual(['copy', 'copy', 'copy', 'copy', 'delete', 'delete']);
  });

  it('gives the same dedupe key to the same event only', () => {
    const [a, b, c, d] = parse(record({ sequencer: 1, eTag: 'x' }), record({ sequencer: 1, eTag: 'x' }), record({ sequencer: 2, eTag: 'x' }), record({ sequencer: 1, eTag: 'y' }));
    expect(a.dedupeKey).toBe(b.dedupeKey);
    expect(new Set([a.dedupeKey, c.dedupeKey, d.dedupeKey]).size).toBe(3);
  });

  it('keys dedupe by the sequencer’s value: the number 16 and the hex string "16" are two events, 22 and "16" one', () => {
    const [decimal, hex, same] = parse(record({ sequencer: 16, eTag: 'x' }), record({ sequencer: '16', eTag: 'x' }), record({ sequencer: 22, eTag: 'x' }));
    expect(decimal.dedupeKey).not.toBe(hex.dedupeKey);
    expect(same.dedupeKey).toBe(hex.dedupeKey);
  });

  it('reads a confirmation by its Type and takes the bucket from TopicArn', () => {
    const parsed = parseNotification({ Type: 'SubscriptionConfirmation', Token: 't', Timestamp: 'ts', TopicArn: 'owner|bucket-1|s3:ObjectCreated:*' }, 1);
    expect(parsed).toMatchObject({ kind: 'confirmation', bucket: 'bucket-1' });
  });

  it('throws a DomainError naming the record for a malformed one', () => {
    expect(() => parse(record({ sequencer: 1 }), record({ sequencer: 'not hex' }))).toThrow(DomainError);
    expect(() => parse(record({ sequencer: 1 }), record({ sequencer: 'not hex' }))).toThrow(/Records\[1\]\.s3\.object\.sequencer/);
  });
});

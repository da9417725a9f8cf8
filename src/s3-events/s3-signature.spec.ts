import { createHmac } from 'node:crypto';
import { confirmationSignature } from './s3-signature';

describe('confirmationSignature (docs/protocols.md, S3 bucket event intake test vectors)', () => {
  it('reproduces the first published vector', () => {
    const fields = {
      Timestamp: '2019-12-26T19:29:12+03:00',
      TopicArn: 'mcs2883541269|bucketA|s3:ObjectCreated:Put',
      Token: 'RPE5UuG94rGgBH6kHXN9FUPugFxj1hs2aUQc99btJp3E49tA',
    };
    expect(confirmationSignature(fields, 'http://test.com')).toBe('ea3fce4bb15c6de4fec365d36bcebbc34ccddf54616d5ca12e1972f82b6d37af');
  });

  it('reproduces the second published vector', () => {
    const fields = {
      Timestamp: '2020-06-15T15:01:13+03:00',
      TopicArn: 'mcs5259999770|myfiles-ash|s3:ObjectCreated:*,s3:ObjectRemoved:*',
      Token: 'E2itMqAMUVVZc51pUhFWSp13DoxezvRxkUh5P7LEuk1dEe9y',
    };
    expect(confirmationSignature(fields, 'http://89.208.199.220/webhook')).toBe('3754ce36636f80dfd606c5254d64ecb2fd8d555c27962b70b4f759f32c76b66d');
  });

  it('keys with the raw intermediate bytes, not their hex (which gives another answer)', () => {
    const fields = { Timestamp: '2019-12-26T19:29:12+03:00', TopicArn: 'mcs2883541269|bucketA|s3:ObjectCreated:Put', Token: 'RPE5UuG94rGgBH6kHXN9FUPugFxj1hs2aUQc99btJp3E49tA' };
    const k1 = createHmac('sha256', fields.Token).update(fields.Timestamp).digest('hex');
    const k2 = createHmac('sha256', k1).update(fields.TopicArn).digest('hex');
    const wrong = createHmac('sha256', k2).update('http://test.com').digest('hex');
    expect(confirmationSignature(fields, 'http://test.com')).not.toBe(wrong);
  });

  it('signs the URL byte for byte (a trailing slash changes the answer)', () => {
    const fields = { Timestamp: 't', TopicArn: 'a|b|c', Token: 'k' };
    expect(confirmationSignature(fields, 'http://test.com/')).not.toBe(confirmationSignature(fields, 'http://test.com'));
  });
});

import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { csSignature, deliveryHeaders, generateSecret, standardSignature, standardWebhooksKey } from './webhook-signer';

const body = Buffer.from('{"event":"user.created","id":"ü-1"}', 'utf8');
const now = (): number => Math.floor(Date.now() / 1000);

function headersFor(secrets: string[], timestampSec = now()): Record<string, string> {
  return deliveryHeaders({ eventId: 'evt-1', eventType: 'user.created', owner: 'org-7', body, secrets, timestampSec });
}

describe('webhook signer', () => {
  it('generates whsec_ secrets of 32 random bytes', () => {
    const a = generateSecret();
    const b = generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(standardWebhooksKey(a)).toHaveLength(32);
    expect(a).not.toBe(b);
  });

  it('keys a whsec_ secret with its base64-decoded bytes and any other secret with its UTF-8 bytes', () => {
    const key = Buffer.alloc(32, 7);
    expect(standardWebhooksKey(`whsec_${key.toString('base64')}`).equals(key)).toBe(true);
    expect(standardWebhooksKey('plain-sécret').equals(Buffer.from('plain-sécret', 'utf8'))).toBe(true);
  });

  it('matches a fixed test vector computed independently with node:crypto', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const key = Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64');
    const payload = Buffer.from('{"test": 2432232314}', 'utf8');
    const expected = createHmac('sha256', key).update('msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}').digest('base64');
    expect(standardSignature(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, payload)).toBe(`v1,${expected}`);
    // The Standard Webhooks specification's published example for the same inputs.
    expect(expected).toBe('g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs CloudStack style with the UTF-8 bytes of the whole secret, prefix included', () => {
    const secret = 'whsec_c2VjcmV0';
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('base64');
    expect(csSignature(secret, body)).toBe(expected);
    expect(headersFor([secret])['x-cs-signature']).toBe(expected);
  });

  it('sends the CloudStack and Standard Webhooks identification headers', () => {
    const headers = headersFor(['s3cret'], 1700000000);
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'CS-Hookshot/org-7',
      'x-cs-event-id': 'evt-1',
      'x-cs-event': 'user.created',
      'webhook-id': 'evt-1',
      'webhook-timestamp': '1700000000',
    });
  });

  it('sends no signature headers without a secret, but still webhook-id and webhook-timestamp', () => {
    const headers = headersFor([]);
    expect(headers['x-cs-signature']).toBeUndefined();
    expect(headers['webhook-signature']).toBeUndefined();
    expect(headers['webhook-id']).toBe('evt-1');
    expect(headers['webhook-timestamp']).toMatch(/^\d+$/);
  });

  it('produces headers the standardwebhooks library verifies for a whsec_ secret', () => {
    const secret = generateSecret();
    expect(new Webhook(secret).verify(body, headersFor([secret]))).toEqual(JSON.parse(body.toString('utf8')));
  });

  it('produces headers the standardwebhooks library verifies in raw mode for a secret without the prefix', () => {
    const secret = 'a user-supplied secret';
    const headers = headersFor([secret]);
    expect(() => new Webhook(Buffer.from(secret, 'utf8'), { format: 'raw' }).verify(body, headers)).not.toThrow();
  });

  it('signs with both secrets during a rotation, each signature verifying with its own key', () => {
    const current = generateSecret();
    const previous = 'old raw secret';
    const headers = headersFor([current, previous]);
    const [first, second, ...rest] = headers['webhook-signature'].split(' ');
    expect(rest).toHaveLength(0);
    const only = (signature: string): Record<string, string> => ({ ...headers, 'webhook-signature': signature });

    expect(() => new Webhook(current).verify(body, only(first))).not.toThrow();
    expect(() => new Webhook(current).verify(body, only(second))).toThrow();
    expect(() => new Webhook(Buffer.from(previous), { format: 'raw' }).verify(body, only(second))).not.toThrow();
    expect(() => new Webhook(Buffer.from(previous), { format: 'raw' }).verify(body, only(first))).toThrow();
    // A receiver still on either key accepts the delivery as sent.
    expect(() => new Webhook(current).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(Buffer.from(previous), { format: 'raw' }).verify(body, headers)).not.toThrow();
    expect(headers['x-cs-signature']).toBe(csSignature(current, body));
  });

  it('signs the exact body bytes: a changed byte fails verification', () => {
    const secret = generateSecret();
    const headers = headersFor([secret]);
    const tampered = Buffer.from(body);
    tampered[2] ^= 1;
    expect(() => new Webhook(secret).verify(tampered, headers)).toThrow();
  });
});

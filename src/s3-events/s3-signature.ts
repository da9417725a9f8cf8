import { createHmac } from 'node:crypto';

/** The fields of a SubscriptionConfirmation that the signature covers (docs/protocols.md, S3 bucket event intake). */
export interface ConfirmationFields {
  Token: string;
  Timestamp: string;
  TopicArn: string;
}

/**
 * The answer to a bucket's SubscriptionConfirmation: k1 = HMAC(Token, Timestamp),
 * k2 = HMAC(k1, TopicArn), hex(HMAC(k2, url)), the intermediate keys as raw bytes, every string
 * used byte for byte as received or configured.
 */
export function confirmationSignature(fields: ConfirmationFields, url: string): string {
  const k1 = createHmac('sha256', Buffer.from(fields.Token, 'utf8')).update(fields.Timestamp, 'utf8').digest();
  const k2 = createHmac('sha256', k1).update(fields.TopicArn, 'utf8').digest();
  return createHmac('sha256', k2).update(url, 'utf8').digest('hex');
}

import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

const SECRET_PREFIX = 'whsec_';

/** A new subscription secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks' format). */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/**
 * The Standard Webhooks HMAC key of a secret: the base64-decoded bytes after `whsec_`, or the
 * UTF-8 bytes of a secret without the prefix (receivers verify those in "raw" mode).
 */
export function standardWebhooksKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX)
    ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/** CloudStack's `X-CS-Signature`: base64(HMAC-SHA256(UTF-8 bytes of the whole secret, body)). */
export function csSignature(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('base64');
}

/**
 * One Standard Webhooks signature, `v1,` + base64(HMAC-SHA256(key, "{msgId}.{timestampSec}.{body}")),
 * computed by the reference implementation (the `standardwebhooks` package) so that the wire
 * format is its own. The key is handed over as bytes in its raw mode: the package's raw mode
 * reads a string secret one UTF-16 unit a byte, which would garble a non-ASCII secret. The
 * package signs the body as a string (UTF-8 decoded): our bodies are JSON we encoded in UTF-8.
 */
export function standardSignature(secret: string, msgId: string, timestampSec: number, body: Buffer): string {
  return new Webhook(standardWebhooksKey(secret), { format: 'raw' }).sign(msgId, new Date(timestampSec * 1000), body);
}

/** What {@link deliveryHeaders} needs to build the headers of one attempt. */
export interface DeliveryHeadersInput {
  eventId: string;
  eventType: string;
  /** The subscription owner's id, sent as `User-Agent: CS-Hookshot/<owner>` (CloudStack). */
  owner: string;
  /** The exact bytes sent. */
  body: Buffer;
  /** The current secret first, then the previous one while a rotation overlaps; empty for none. */
  secrets: string[];
  /** Unix seconds of the attempt. */
  timestampSec: number;
}

/**
 * The headers of one delivery attempt, CloudStack's and Standard Webhooks' together (lower-case
 * names). The signatures appear only when the subscription has a secret; during a rotation
 * `webhook-signature` carries one signature per secret, space-separated, the current one first.
 */
export function deliveryHeaders(input: DeliveryHeadersInput): Record<string, string> {
  const { eventId, eventType, owner, body, secrets, timestampSec } = input;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': `CS-Hookshot/${owner}`,
    'x-cs-event-id': eventId,
    'x-cs-event': eventType,
    'webhook-id': eventId,
    'webhook-timestamp': String(timestampSec),
  };
  if (secrets.length > 0) {
    headers['x-cs-signature'] = csSignature(secrets[0], body);
    headers['webhook-signature'] = secrets.map((s) => standardSignature(s, eventId, timestampSec, body)).join(' ');
  }
  return headers;
}

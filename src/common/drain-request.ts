import type { IncomingMessage } from 'node:http';

/** The longest an answer waits for the rest of a body: a client trickling it must not hold it forever. */
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * Reads and discards what is left of a request body that the service answers without reading it
 * (an oversize body's 413, a 415, a 404): closing a connection with unread data resets it (TCP
 * RST), and a client still writing sees EPIPE or ECONNRESET instead of the answer. At most `limit`
 * more bytes, and for at most 10 s: past that, or when the declared Content-Length is already
 * over `limit`, the answer goes out at once and the connection closes (the client may then see
 * the reset). Resolves true once the whole body was received.
 */
export function drainRequestBody(raw: IncomingMessage, limit: number): Promise<boolean> {
  if (raw.complete) return Promise.resolve(true);
  if (raw.destroyed || raw.readableEnded) return Promise.resolve(false);
  const declared = Number(raw.headers['content-length']);
  if (limit <= 0 || declared > limit) return Promise.resolve(false);
  return new Promise((resolve) => {
    let received = 0;
    const finish = (whole: boolean): void => {
      clearTimeout(timer);
      raw.off('data', onData).off('end', onEnd).off('close', onClose).off('error', onClose);
      // Whatever still arrives is dropped: nothing reads this request any more.
      if (!whole) raw.pause();
      resolve(whole);
    };
    const onData = (chunk: Buffer | string): void => {
      received += chunk.length;
      if (received > limit) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onClose = (): void => finish(raw.complete);
    const timer = setTimeout(() => finish(false), DRAIN_TIMEOUT_MS);
    raw.on('data', onData).once('end', onEnd).once('close', onClose).once('error', onClose);
    raw.resume();
  });
}

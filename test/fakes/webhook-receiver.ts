import { createHmac, timingSafeEqual } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { generate } from 'selfsigned';
import { Webhook } from 'standardwebhooks';

/**
 * A real webhook receiver on 127.0.0.1 for e2e tests (docs/architecture.md, flow 2): records every request with its
 * exact bytes, verifies both signatures with independent code (the `standardwebhooks` package
 * and node:crypto), and answers as scripted.
 *
 * ```ts
 * const receiver = await startWebhookReceiver({ secret });
 * receiver.setBehaviour({ status: 503, headers: { 'retry-after': '5' } });
 * // ... deliver to receiver.url ...
 * const [delivery] = await receiver.waitFor(1);
 * expect(delivery.verified).toEqual({ cs: true, standard: true });
 * await receiver.close();
 * ```
 */

/** What the receiver does with one request. */
export type ReceiverBehaviour =
  /** Answer with this status, body (default empty) and headers, `delayMs` after the request arrived. */
  | { status: number; body?: string; headers?: Record<string, string>; delayMs?: number }
  /** 302 to this URL. */
  | { redirect: string }
  /** Never answer (until {@link WebhookReceiver.close}). */
  | 'hang'
  /** Destroy the connection without an answer: the sender sees ECONNRESET / socket hang up. */
  | 'close';

/** One request the receiver got. */
export interface ReceivedDelivery {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The exact bytes received. */
  body: Buffer;
  /** The body parsed as JSON, or undefined if it is not JSON. */
  json: unknown;
  receivedAt: Date;
  /**
   * `cs`: `X-CS-Signature` matches `options.secret`; `standard`: the `standardwebhooks` package
   * accepts the delivery with `options.secret` or `options.previousSecret`. Null without a secret.
   */
  verified: { cs: boolean | null; standard: boolean | null };
}

export interface WebhookReceiverOptions {
  /** The subscription's secret (a `whsec_` secret or a raw one, verified in raw mode). */
  secret?: string;
  /** The rotated-out secret, also accepted for the Standard Webhooks signature. */
  previousSecret?: string;
  /** Serve HTTPS with a fresh self-signed certificate for localhost / 127.0.0.1. */
  https?: boolean;
}

export interface WebhookReceiver {
  /** `http(s)://127.0.0.1:<port>/hook` */
  url: string;
  port: number;
  received: ReceivedDelivery[];
  /** TCP connections accepted so far (shows whether the sender keeps connections alive). */
  readonly connections: number;
  /** Sets the answer to every following request, or a function choosing it per request. */
  setBehaviour(behaviour: ReceiverBehaviour | ((delivery: ReceivedDelivery, index: number) => ReceiverBehaviour)): void;
  /** Resolves once `count` requests have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedDelivery[]>;
  close(): Promise<void>;
}

const DEFAULT_BEHAVIOUR: ReceiverBehaviour = { status: 200, body: 'ok' };

export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const received: ReceivedDelivery[] = [];
  const waiters: Array<() => void> = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const verifiers = [options.secret, options.previousSecret]
    .filter((s): s is string => s !== undefined && s !== '')
    .map((s) => (s.startsWith('whsec_') ? new Webhook(s) : new Webhook(Buffer.from(s, 'utf8'), { format: 'raw' })));
  let choose: (delivery: ReceivedDelivery, index: number) => ReceiverBehaviour = () => DEFAULT_BEHAVIOUR;

  const verify = (headers: IncomingHttpHeaders, body: Buffer): ReceivedDelivery['verified'] => {
    if (options.secret === undefined) return { cs: null, standard: null };
    const given = Buffer.from(String(headers['x-cs-signature'] ?? ''), 'utf8');
    const expected = Buffer.from(createHmac('sha256', options.secret).update(body).digest('base64'), 'utf8');
    const cs = given.length === expected.length && timingSafeEqual(given, expected);
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') flat[name] = value;
    const standard = verifiers.some((webhook) => {
      try {
        webhook.verify(body, flat, { jsonParse: false });
        return true;
      } catch {
        return false;
      }
    });
    return { cs, standard };
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        json = undefined;
      }
      const delivery: ReceivedDelivery = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        json,
        receivedAt: new Date(),
        verified: verify(req.headers, body),
      };
      received.push(delivery);
      const behaviour = choose(delivery, received.length - 1);
      for (const wake of waiters.splice(0)) wake();

      if (behaviour === 'hang') return;
      if (behaviour === 'close') {
        req.socket.destroy();
        return;
      }
      if ('redirect' in behaviour) {
        res.writeHead(302, { location: behaviour.redirect }).end();
        return;
      }
      const answer = (): void => void res.writeHead(behaviour.status, behaviour.headers).end(behaviour.body ?? '');
      if (behaviour.delayMs) setTimeout(answer, behaviour.delayMs);
      else answer();
    });
  };

  let server: http.Server;
  if (options.https) {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', algorithm: 'sha256' });
    server = https.createServer({ key: pems.private, cert: pems.cert }, handle);
  } else {
    server = http.createServer(handle);
  }
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Plain connections that fail the TLS handshake never reach 'secureConnection'.
  if (options.https) server.on('tlsClientError', () => undefined);

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `${options.https ? 'https' : 'http'}://127.0.0.1:${port}/hook`,
    port,
    received,
    get connections() {
      return connections;
    },
    setBehaviour(behaviour) {
      choose = typeof behaviour === 'function' ? behaviour : () => behaviour;
    },
    waitFor(count, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (received.length >= count) {
            clearTimeout(timer);
            resolve(received);
          } else {
            waiters.push(check);
          }
        };
        const timer = setTimeout(() => {
          const index = waiters.indexOf(check);
          if (index >= 0) waiters.splice(index, 1);
          reject(new Error(`webhook receiver got ${received.length} of ${count} deliveries within ${timeoutMs} ms`));
        }, timeoutMs);
        check();
      });
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await closed;
    },
  };
}

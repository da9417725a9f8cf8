import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import http, { type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { parseRetryAfter } from '../common/backoff';
import { webhooksConfig, type WebhooksConfig } from '../config/webhooks.config';
import { BLOCKED_CODE, UrlPolicy } from './url-policy';
import { DeliveryErrorClass } from './webhook-delivery-attempt.entity';
import { deliveryHeaders } from './webhook-signer';

/** Where and how one delivery goes. */
export interface SendTarget {
  url: string;
  /** Verify the receiver's TLS certificate (https only). */
  sslVerification: boolean;
  /** The current secret first, then the previous one while a rotation overlaps; empty for none. */
  secrets: string[];
  /** The subscription owner's id (`User-Agent: CS-Hookshot/<owner>`). */
  owner: string;
}

/** What one delivery carries. */
export interface SendMessage {
  /** Stable across retries: `X-CS-Event-ID` and `webhook-id`. */
  eventId: string;
  eventType: string;
  /** The exact bytes sent and signed. */
  body: Buffer;
}

/** The request of one attempt as sent: POST to `url` with these headers and the message's body. */
export interface SentRequest {
  url: string;
  /** Lower-case names, in the order sent: signatures, Host and Connection included. */
  headers: Record<string, string>;
}

/** The outcome of one attempt, ready to be recorded. */
export interface SendResult {
  /** What was sent (or would have been, when the URL was refused before connecting). */
  request: SentRequest;
  startedAt: Date;
  durationMs: number;
  /** HTTP status, null if no answer. */
  status: number | null;
  /** The first `responseBodyLimit` bytes of the answer, decoded as UTF-8; null if no answer. */
  responseBody: string | null;
  /** Null on success. */
  errorClass: DeliveryErrorClass | null;
  /** A short human message (never containing a secret); null on success. */
  error: string | null;
  /** Any 2xx, or exactly 200 in 200-only mode. */
  success: boolean;
  /** The receiver answered 410 Gone: the subscription should be disabled. */
  gone: boolean;
  /** The receiver's Retry-After in milliseconds (capped at 24 h); null if absent or invalid. */
  retryAfterMs: number | null;
}

interface Answer {
  status: number;
  body: string;
  retryAfter: string | undefined;
}

const TIMEOUT_CODE = 'EATTEMPTTIMEOUT';
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;
const MAX_ERROR_LENGTH = 300;
/** Idle keep-alive sockets are closed after this (or sooner on a server's Keep-Alive hint), before most servers drop them. */
const IDLE_SOCKET_MS = 4_000;
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: 'lifo', timeout: IDLE_SOCKET_MS } as const;
const TLS_CODE = /^(ERR_TLS|ERR_SSL|ERR_OSSL|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|EPROTO$)/;
const DNS_CODE = /^(ENOTFOUND|ENODATA|EAI_)/;

/**
 * Sends one webhook delivery attempt over `node:http`/`node:https` (docs/architecture.md, flow 2): signed headers,
 * exact body bytes, no redirects, per-subscription TLS verification, the whole attempt bounded
 * by a timeout, and every connection checked against the address policy.
 */
@Injectable()
export class WebhookSender implements OnApplicationShutdown {
  private readonly policy: UrlPolicy;
  private readonly httpAgent = new http.Agent(AGENT_OPTIONS);
  private readonly httpsAgent = new https.Agent({ ...AGENT_OPTIONS, rejectUnauthorized: true });
  private readonly insecureAgent = new https.Agent({ ...AGENT_OPTIONS, rejectUnauthorized: false });

  constructor(@Inject(webhooksConfig.KEY) private readonly config: WebhooksConfig) {
    this.policy = new UrlPolicy(config.allowedPrivate);
  }

  /** After the delivery worker's own shutdown (beforeApplicationShutdown), which lets attempts in flight finish. */
  onApplicationShutdown(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.insecureAgent.destroy();
  }

  /** POSTs the message to the target once. Never throws: every failure is a result. */
  async send(target: SendTarget, message: SendMessage, timeoutMs = this.config.timeoutMs): Promise<SendResult> {
    const startedAt = new Date();
    const start = performance.now();
    const request = requestOf(target, message, Math.floor(startedAt.getTime() / 1000));
    let answer: Answer;
    try {
      answer = await this.exchange(target, message, request.headers, timeoutMs);
    } catch (err) {
      const error = err as NodeJS.ErrnoException;
      return unanswered(request, startedAt, Math.round(performance.now() - start), classify(error), describe(error, target.secrets));
    }
    const { status } = answer;
    const success = this.config.success200Only ? status === 200 : status >= 200 && status < 300;
    return {
      request,
      startedAt,
      durationMs: Math.round(performance.now() - start),
      status,
      responseBody: answer.body,
      errorClass: success ? null : DeliveryErrorClass.Http,
      error: success ? null : status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`,
      success,
      gone: status === 410,
      retryAfterMs: parseRetryAfter(answer.retryAfter, MAX_RETRY_AFTER_MS),
    };
  }

  private exchange(target: SendTarget, message: SendMessage, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
    const url = URL.canParse(target.url) ? new URL(target.url) : null;
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw Object.assign(new Error('payload_url is not a valid http or https URL'), { code: BLOCKED_CODE });
    }
    const isHttps = url.protocol === 'https:';
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    // Node connects to IP literals without calling `lookup`, so those are checked here.
    this.policy.checkAddressLiteral(hostname);

    const options: RequestOptions = {
      method: 'POST',
      hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: url.pathname + url.search,
      headers,
      agent: isHttps ? (target.sslVerification ? this.httpsAgent : this.insecureAgent) : this.httpAgent,
      lookup: this.policy.lookup,
    };
    const limit = this.config.responseBodyLimit;

    return new Promise<Answer>((resolve, reject) => {
      let req: ClientRequest | undefined;
      let res: IncomingMessage | undefined;
      let settled = false;
      let retried = false;

      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        res?.destroy();
        req?.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(Object.assign(new Error(`no complete answer within ${timeoutMs} ms`), { code: TIMEOUT_CODE })),
        timeoutMs,
      );

      const onResponse = (incoming: IncomingMessage): void => {
        res = incoming;
        const chunks: Buffer[] = [];
        let size = 0;
        const done = (): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          const body = size === 0 ? '' : (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)).toString('utf8');
          resolve({ status: incoming.statusCode ?? 0, body, retryAfter: incoming.headers['retry-after'] });
        };
        incoming.on('data', (chunk: Buffer) => {
          if (settled) return;
          const room = limit - size;
          if (chunk.length <= room) {
            chunks.push(chunk);
            size += chunk.length;
            return;
          }
          if (room > 0) {
            chunks.push(chunk.subarray(0, room));
            size = limit;
          }
          done();
          // The rest is not wanted: dropping the connection is cheaper than draining it.
          incoming.destroy();
        });
        incoming.on('end', done);
        incoming.on('error', fail);
      };

      const start = (): void => {
        const current = isHttps ? https.request(options, onResponse) : http.request(options, onResponse);
        req = current;
        current.on('error', (err: NodeJS.ErrnoException) => {
          // A pooled socket the server closed while idle: retry once on a fresh one (Node's advice).
          if (!retried && !settled && res === undefined && current.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
            retried = true;
            start();
            return;
          }
          fail(err);
        });
        current.end(message.body);
      };
      start();
    });
  }
}

/** An attempt that got no answer. */
export function unanswered(request: SentRequest, startedAt: Date, durationMs: number, errorClass: DeliveryErrorClass, error: string): SendResult {
  return { request, startedAt, durationMs, status: null, responseBody: null, errorClass, error, success: false, gone: false, retryAfterMs: null };
}

/**
 * The headers of one attempt, exactly as written on the wire: Host and Connection are set here
 * rather than left to Node (to the same values), so that what is recorded is what was sent.
 */
function requestOf(target: SendTarget, message: SendMessage, timestampSec: number): SentRequest {
  const url = URL.canParse(target.url) ? new URL(target.url) : null;
  const signed = deliveryHeaders({ eventId: message.eventId, eventType: message.eventType, owner: target.owner, body: message.body, secrets: target.secrets, timestampSec });
  const headers: Record<string, string> = url ? { host: url.host } : {};
  Object.assign(headers, signed, { 'content-length': String(message.body.length), connection: 'keep-alive' });
  return { url: target.url, headers };
}

function classify(err: NodeJS.ErrnoException): DeliveryErrorClass {
  const code = err.code ?? '';
  if (code === BLOCKED_CODE) return DeliveryErrorClass.Blocked;
  if (code === TIMEOUT_CODE || code === 'ETIMEDOUT') return DeliveryErrorClass.Timeout;
  if (DNS_CODE.test(code)) return DeliveryErrorClass.Dns;
  if (TLS_CODE.test(code)) return DeliveryErrorClass.Tls;
  return DeliveryErrorClass.Connect;
}

function describe(err: NodeJS.ErrnoException, secrets: string[]): string {
  const inner = err instanceof AggregateError ? (err.errors[0] as Error | undefined) : undefined;
  let message = err.message || inner?.message || 'request failed';
  const ours = err.code === BLOCKED_CODE || err.code === TIMEOUT_CODE;
  if (err.code && !ours && !message.includes(err.code)) message = `${err.code}: ${message}`;
  for (const secret of secrets) if (secret !== '') message = message.split(secret).join('[secret]');
  return message.length > MAX_ERROR_LENGTH ? `${message.slice(0, MAX_ERROR_LENGTH - 1)}…` : message;
}

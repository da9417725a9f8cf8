import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the Acronis Cyber Platform API as the connector uses it (DESIGN 7.1): the
 * client-credentials token endpoint, Alert Manager and Workload Management. A real Fastify
 * server on 127.0.0.1, checking what a client sends and answering as scripted.
 *
 * ```ts
 * const api = await startFakeAcronisApi();
 * api.enqueue('pushes', replies.rateLimited(1), 3); // the next 3 pushes get 429, Retry-After: 1
 * // ... point the client at api.url with api.clientId / api.clientSecret ...
 * expect(api.alerts).toHaveLength(4);
 * await api.close();
 * ```
 */

/** What the fake answers to one request. Build them with {@link replies}. */
export type FakeReply =
  /** The normal answer: a token, alert 200 `{"id"}` or workload 204 (after the usual checks). */
  | { kind: 'ok' }
  /** This status, body and headers, whatever the request. */
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  /** Accepts the request and never answers (until {@link FakeAcronisApi.close}). */
  | { kind: 'hang' }
  /** Destroys the connection without an answer: the client sees ECONNRESET / socket hang up. */
  | { kind: 'reset' };

/** Ready-made {@link FakeReply} values. */
export const replies = {
  ok: (): FakeReply => ({ kind: 'ok' }),
  status: (status: number, body = '', headers: Record<string, string> = {}): FakeReply => ({ kind: 'status', status, body, headers }),
  json: (status: number, value: unknown): FakeReply => ({
    kind: 'status',
    status,
    body: JSON.stringify(value),
    headers: { 'content-type': 'application/json' },
  }),
  /** 429 with `Retry-After` (seconds, or an HTTP date string); omitted when `retryAfter` is undefined. */
  rateLimited: (retryAfter?: number | string): FakeReply => ({
    kind: 'status',
    status: 429,
    body: '{"error":"too_many_requests"}',
    headers: { 'content-type': 'application/json', ...(retryAfter !== undefined && { 'retry-after': String(retryAfter) }) },
  }),
  serverError: (status = 500): FakeReply => replies.json(status, { error: 'internal_error', message: 'Internal Server Error' }),
  /** What an expired or unknown token gets. */
  unauthorized: (): FakeReply => replies.json(401, { error: 'unauthorized', message: 'The access token is expired or invalid' }),
  /** A proxy's maintenance page instead of JSON. */
  html: (status = 200): FakeReply => ({
    kind: 'status',
    status,
    body: '<!DOCTYPE html><html><head><title>Maintenance</title></head><body><h1>Back soon</h1></body></html>',
    headers: { 'content-type': 'text/html; charset=utf-8' },
  }),
  /** JSON cut off in the middle. */
  truncatedJson: (status = 200): FakeReply => ({
    kind: 'status',
    status,
    body: '{"access_token":"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOi',
    headers: { 'content-type': 'application/json' },
  }),
  hang: (): FakeReply => ({ kind: 'hang' }),
  reset: (): FakeReply => ({ kind: 'reset' }),
} as const;

/** Where a scripted reply applies: the token endpoint, one push endpoint, or either push endpoint. */
export type FakeTarget = 'token' | 'alerts' | 'workloads' | 'pushes';

/** One request as the fake received it. */
export interface RecordedRequest {
  method: string;
  /** Path and query as requested. */
  url: string;
  /** Lower-case header names, as Node gives them. */
  headers: IncomingHttpHeaders;
  /** The body exactly as sent. */
  rawBody: string;
  /** The status answered; null for a hang or a reset. */
  status: number | null;
  /** Epoch ms when the request arrived. */
  receivedAt: number;
}

/** A push as the fake received it; `body` is the parsed JSON (undefined when it was not JSON). */
export interface RecordedPush extends RecordedRequest {
  body: unknown;
  /** The bearer token used, if any. */
  token: string | null;
  /** For a created alert (200), the id answered. */
  remoteId: string | null;
}

/** Settings that can be changed while the server runs ({@link FakeAcronisApi.setBehaviour}). */
export interface FakeBehaviour {
  /** Seconds a new token lives. Default 7200 (the platform's 2 h). */
  tokenLifetimeSeconds: number;
  /** How token answers state the lifetime: absolute `expires_on` (the docs) or relative `expires_in` (the sample's types). */
  tokenExpiryField: 'expires_on' | 'expires_in';
  /** Delay before every push answer, ms. Default 0. */
  serviceTimeMs: number;
  /** Delay before every token answer, ms. Default 0. */
  tokenServiceTimeMs: number;
  /**
   * Answers this fraction of pushes (those not answered by a queued reply) with `reply`, spread
   * evenly and deterministically: with 0.05, pushes 20, 40, 60… of the ones it sees.
   */
  pushFailures: { fraction: number; reply: FakeReply } | null;
  /** Last word on a push that no queued reply or `pushFailures` took: return a reply, or undefined for the normal answer. */
  decide: ((push: { endpoint: 'alerts' | 'workloads'; body: unknown; index: number }) => FakeReply | undefined) | null;
}

/** Options of {@link startFakeAcronisApi}: the credentials it accepts, and the initial {@link FakeBehaviour}. */
export interface FakeAcronisApiOptions extends Partial<FakeBehaviour> {
  clientId?: string;
  clientSecret?: string;
}

const DEFAULT_BEHAVIOUR: FakeBehaviour = {
  tokenLifetimeSeconds: 7200,
  tokenExpiryField: 'expires_on',
  serviceTimeMs: 0,
  tokenServiceTimeMs: 0,
  pushFailures: null,
  decide: null,
};

const sleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The body as sent: every content type is parsed as a string (see the constructor); none when there was no body. */
function rawBodyOf(request: FastifyRequest): string {
  return typeof request.body === 'string' ? request.body : '';
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/** Why an alert body is not one the Alert Manager would take, or null. */
function alertProblem(body: unknown): string | null {
  if (!isRecord(body)) return 'body is not a JSON object';
  for (const field of ['type', 'category', 'tenantID'] as const) if (typeof body[field] !== 'string') return `${field} must be a string`;
  if (!isRecord(body.details) || typeof body.details.title !== 'string') return 'details.title must be a string';
  if ((body.ResourceID === undefined) !== (body.ResourceName === undefined)) return 'ResourceID and ResourceName go together';
  return null;
}

/** Why a workload body is not one Workload Management would take, or null. */
function workloadProblem(body: unknown, clientId: string): string | null {
  if (!isRecord(body) || !Array.isArray(body.items) || body.items.length === 0) return 'items must be a non-empty array';
  for (const item of body.items as unknown[]) {
    if (!isRecord(item)) return 'items[] must be objects';
    for (const field of ['type', 'name', 'tenant_id'] as const) if (typeof item[field] !== 'string') return `items[].${field} must be a string`;
    if (item.client_id !== clientId) return 'items[].client_id must be the API client id';
  }
  return null;
}

/** The fake server. Start one with {@link startFakeAcronisApi}. */
export class FakeAcronisApi {
  /** Base URL, e.g. `http://127.0.0.1:43121`: the client's `dcUrl`. */
  url = '';
  readonly clientId: string;
  readonly clientSecret: string;
  /** Every token request, answered or not. */
  readonly tokenRequests: RecordedRequest[] = [];
  /** Every alert push, in arrival order, whatever was answered. */
  readonly alerts: RecordedPush[] = [];
  /** Every workload push, in arrival order, whatever was answered. */
  readonly workloads: RecordedPush[] = [];
  /** Every token handed out since start or the last {@link reset}, oldest first. */
  readonly issuedTokens: string[] = [];

  private behaviour: FakeBehaviour;
  private readonly app: FastifyInstance;
  /** token → epoch ms when it expires. */
  private readonly tokens = new Map<string, number>();
  private readonly queues: Record<FakeTarget, FakeReply[]> = { token: [], alerts: [], workloads: [], pushes: [] };
  private readonly hanging = new Set<ServerResponse>();
  private fractionSeen = 0;
  private pushIndex = 0;
  private tokenCount = 0;

  /** @internal use {@link startFakeAcronisApi} */
  constructor(options: FakeAcronisApiOptions = {}) {
    const { clientId = 'fake-client-id', clientSecret = 'fake-client-secret', ...behaviour } = options;
    this.clientId = clientId;
    this.clientSecret = clientSecret;
    this.behaviour = { ...DEFAULT_BEHAVIOUR, ...behaviour };
    this.app = Fastify({ logger: false, forceCloseConnections: true, keepAliveTimeout: 60_000 });
    // Raw bodies for every content type: the tests check bytes, and garbage must reach the checks.
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    this.app.post('/bc/idp/token', (request, reply) => this.token(request, reply));
    this.app.post('/api/alert_manager/v1/alerts', (request, reply) => this.push('alerts', request, reply));
    this.app.post('/api/workload_management/v5/workloads', (request, reply) => this.push('workloads', request, reply));
  }

  /** @internal */
  async listen(): Promise<void> {
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    this.url = `http://127.0.0.1:${(this.app.server.address() as AddressInfo).port}`;
  }

  /** Changes settings from now on; unmentioned ones stay. */
  setBehaviour(patch: Partial<FakeBehaviour>): void {
    if (patch.pushFailures !== undefined) this.fractionSeen = 0;
    this.behaviour = { ...this.behaviour, ...patch };
  }

  /**
   * Answers the next `times` requests to `target` with `reply`, after any already queued.
   * A push takes from its endpoint's queue first, then from `pushes`. Queued replies other
   * than `ok` bypass the credential and token checks (they script what the server says,
   * whatever was sent); a queued `ok` is the normal, checked answer.
   */
  enqueue(target: FakeTarget, reply: FakeReply, times = 1): void {
    for (let i = 0; i < times; i++) this.queues[target].push(reply);
  }

  /** Makes every token issued so far expired: the next push with one gets 401. */
  expireTokens(): void {
    for (const token of this.tokens.keys()) this.tokens.set(token, 0);
  }

  /** Pushes answered 2xx, i.e. items created on the platform. */
  get created(): { alerts: RecordedPush[]; workloads: RecordedPush[] } {
    const ok = (push: RecordedPush): boolean => push.status !== null && push.status >= 200 && push.status < 300;
    return { alerts: this.alerts.filter(ok), workloads: this.workloads.filter(ok) };
  }

  /** Forgets recorded requests and queued replies, and restores the initial behaviour; issued tokens stay valid. */
  reset(behaviour: Partial<FakeBehaviour> = {}): void {
    this.tokenRequests.length = 0;
    this.issuedTokens.length = 0;
    this.alerts.length = 0;
    this.workloads.length = 0;
    for (const queue of Object.values(this.queues)) queue.length = 0;
    this.behaviour = { ...DEFAULT_BEHAVIOUR, ...behaviour };
    this.fractionSeen = 0;
    this.pushIndex = 0;
  }

  /** Stops the server, dropping open and hanging connections. */
  async close(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    await this.app.close();
  }

  private token(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const record: RecordedRequest = {
      method: request.method,
      url: request.url,
      headers: request.headers,
      rawBody: rawBodyOf(request),
      status: null,
      receivedAt: Date.now(),
    };
    this.tokenRequests.push(record);
    const scripted = this.queues.token.shift();
    if (scripted && scripted.kind !== 'ok') return this.answer(scripted, record, request, reply, this.behaviour.tokenServiceTimeMs);

    const expected = `Basic ${Buffer.from(`${this.clientId}:${this.clientSecret}`).toString('base64')}`;
    let answer: FakeReply;
    if (header(request.headers, 'authorization') !== expected) {
      answer = replies.json(401, { error: 'invalid_client', error_description: 'Client authentication failed' });
    } else if (!header(request.headers, 'content-type').startsWith('application/x-www-form-urlencoded')) {
      answer = replies.json(400, { error: 'invalid_request', error_description: 'Expected a form body' });
    } else if (new URLSearchParams(record.rawBody).get('grant_type') !== 'client_credentials') {
      answer = replies.json(400, { error: 'unsupported_grant_type' });
    } else {
      this.tokenCount += 1;
      const token = `fake-access-token-${this.tokenCount}-${randomUUID()}`;
      const { tokenLifetimeSeconds, tokenExpiryField } = this.behaviour;
      const expiresAt = Date.now() + tokenLifetimeSeconds * 1000;
      this.tokens.set(token, expiresAt);
      this.issuedTokens.push(token);
      const expiry = tokenExpiryField === 'expires_on' ? { expires_on: Math.floor(expiresAt / 1000) } : { expires_in: tokenLifetimeSeconds };
      answer = replies.json(200, { access_token: token, ...expiry, id_token: `fake-id-token-${this.tokenCount}`, token_type: 'bearer' });
    }
    return this.answer(answer, record, request, reply, this.behaviour.tokenServiceTimeMs);
  }

  private push(endpoint: 'alerts' | 'workloads', request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const rawBody = rawBodyOf(request);
    const authorization = header(request.headers, 'authorization');
    const record: RecordedPush = {
      method: request.method,
      url: request.url,
      headers: request.headers,
      rawBody,
      body: parseJson(rawBody),
      token: authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : null,
      status: null,
      remoteId: null,
      receivedAt: Date.now(),
    };
    this.pushIndex += 1;
    (endpoint === 'alerts' ? this.alerts : this.workloads).push(record);
    const scripted = this.queues[endpoint].shift() ?? this.queues.pushes.shift() ?? this.fractionReply() ?? this.decided(endpoint, record);
    const answer = scripted && scripted.kind !== 'ok' ? scripted : this.checked(endpoint, record);
    return this.answer(answer, record, request, reply, this.behaviour.serviceTimeMs);
  }

  private fractionReply(): FakeReply | undefined {
    const failures = this.behaviour.pushFailures;
    if (!failures || failures.fraction <= 0) return undefined;
    this.fractionSeen += 1;
    const n = this.fractionSeen;
    return Math.floor(n * failures.fraction) > Math.floor((n - 1) * failures.fraction) ? failures.reply : undefined;
  }

  private decided(endpoint: 'alerts' | 'workloads', record: RecordedPush): FakeReply | undefined {
    return this.behaviour.decide?.({ endpoint, body: record.body, index: this.pushIndex - 1 });
  }

  /** The platform's own answer: 401 for a bad token, 400 for a bad body, else created. */
  private checked(endpoint: 'alerts' | 'workloads', record: RecordedPush): FakeReply {
    const expiresAt = record.token === null ? undefined : this.tokens.get(record.token);
    if (expiresAt === undefined || Date.now() >= expiresAt) return replies.unauthorized();
    if (!header(record.headers, 'content-type').startsWith('application/json')) return replies.json(415, { error: 'unsupported_media_type' });
    const problem = endpoint === 'alerts' ? alertProblem(record.body) : workloadProblem(record.body, this.clientId);
    if (problem) return replies.json(400, { error: 'validation_error', message: problem });
    if (endpoint === 'workloads') return replies.status(204);
    record.remoteId = randomUUID();
    return replies.json(200, { id: record.remoteId });
  }

  /** Resolves to the reply once sent (what Fastify expects of an async handler), or undefined when hijacked. */
  private async answer(
    answer: FakeReply,
    record: RecordedRequest,
    request: FastifyRequest,
    reply: FastifyReply,
    delayMs: number,
  ): Promise<FastifyReply | undefined> {
    if (answer.kind === 'hang') {
      reply.hijack();
      this.hanging.add(reply.raw);
      reply.raw.once('close', () => this.hanging.delete(reply.raw));
      return undefined;
    }
    await sleep(delayMs);
    if (answer.kind === 'reset') {
      reply.hijack();
      request.raw.socket.destroy();
      return undefined;
    }
    // Both handlers turn 'ok' into the normal answer before coming here.
    const { status, body = '', headers = {} } = answer.kind === 'status' ? answer : { status: 200, body: '', headers: {} };
    record.status = status;
    return reply.code(status).headers(headers).send(body);
  }
}

/** Starts a {@link FakeAcronisApi} on 127.0.0.1 with an ephemeral port. Close it after the test. */
export async function startFakeAcronisApi(options: FakeAcronisApiOptions = {}): Promise<FakeAcronisApi> {
  const api = new FakeAcronisApi(options);
  await api.listen();
  return api;
}

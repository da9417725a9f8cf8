import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the Acronis Cyber Platform API as the connector uses it (docs/protocols.md): the
 * client-credentials token endpoint, Alert Manager v1 and Workload Management v5. A real
 * Fastify server on 127.0.0.1, checking what a client sends and answering as scripted, with
 * the platform's state: workloads it creates, lists (cursor paging), updates and deletes;
 * alerts it creates (optionally with a client-chosen id), looks up and dismisses.
 *
 * ```ts
 * const api = await startFakeAcronisApi();
 * api.enqueue('pushes', replies.rateLimited(1), 3); // the next 3 pushes get 429, Retry-After: 1
 * // ... point the client at api.url with api.clientId / api.clientSecret ...
 * expect(api.alerts).toHaveLength(4);
 * expect(api.store.workloads()).toHaveLength(2);
 * expect(api.violations).toEqual([]);
 * await api.close();
 * ```
 *
 * Where the platform's behaviour is undocumented the fake is strict, so that a client that
 * passes here does not lean on a guess: unsupported query parameters, repeated filters and
 * unknown PATCH fields are 400s, a paging cursor only continues the query it came from, and
 * a POST of an alert id that exists is a 409 (see {@link FakeAcronisApi}).
 */

/** What the fake answers to one request. Build them with {@link replies}. */
export type FakeReply =
  /** The normal answer: a token, alert 200 `{"id"}`, workload 204, a page… (after the usual checks). */
  | { kind: 'ok' }
  /** This status, body and headers, whatever the request; nothing changes on the "platform". */
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  /** Accepts the request and never answers (until {@link FakeAcronisApi.close}); nothing changes. */
  | { kind: 'hang' }
  /** Destroys the connection without an answer: the client sees ECONNRESET / socket hang up. Nothing changes. */
  | { kind: 'reset' }
  /**
   * Does what the normal answer would (all checks; the item is created, updated, deleted or
   * dismissed when they pass), then answers `then` instead (a status, `hang` or `reset`): the
   * platform did it but the client never learnt. A `then` of `ok` is the normal answer.
   */
  | { kind: 'applied'; then: FakeReply };

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
  /** The request takes effect, then `then` is answered instead (e.g. `replies.applied(replies.reset())`). */
  applied: (then: FakeReply): FakeReply => ({ kind: 'applied', then }),
} as const;

/**
 * Where a scripted reply applies ({@link FakeAcronisApi.enqueue}):
 * - `token`: POST /bc/idp/token;
 * - `alerts`, `workloads`: the POST (push) of that API; `pushes`: either POST;
 * - `workload-lookups`: GET /workloads; `workload-updates`: PATCH /workloads/{id};
 *   `workload-deletes`: DELETE /workloads;
 * - `alert-lookups`: GET /alerts/{id}; `alert-queries`: GET /alerts;
 *   `alert-dismissals`: DELETE /alerts/{id} and DELETE /alerts?id=….
 */
export type FakeTarget =
  | 'token'
  | 'alerts'
  | 'workloads'
  | 'pushes'
  | 'workload-lookups'
  | 'workload-updates'
  | 'workload-deletes'
  | 'alert-lookups'
  | 'alert-queries'
  | 'alert-dismissals';

/** What a request was, by route; `unknown` for one that matched no route (answered 404). */
export type FakeOperation =
  | 'token'
  | 'alert-push' // POST   /api/alert_manager/v1/alerts
  | 'alert-lookup' // GET    /api/alert_manager/v1/alerts/{id}
  | 'alert-query' // GET    /api/alert_manager/v1/alerts
  | 'alert-dismissal' // DELETE /api/alert_manager/v1/alerts/{id}
  | 'alert-bulk-dismissal' // DELETE /api/alert_manager/v1/alerts?id=…
  | 'workload-push' // POST   /api/workload_management/v5/workloads
  | 'workload-lookup' // GET    /api/workload_management/v5/workloads
  | 'workload-update' // PATCH  /api/workload_management/v5/workloads/{id}
  | 'workload-delete' // DELETE /api/workload_management/v5/workloads?workload_id=…
  | 'unknown';

/** The queues an operation takes a scripted reply from, in order. */
const TARGETS: Record<FakeOperation, FakeTarget[]> = {
  token: ['token'],
  'alert-push': ['alerts', 'pushes'],
  'alert-lookup': ['alert-lookups'],
  'alert-query': ['alert-queries'],
  'alert-dismissal': ['alert-dismissals'],
  'alert-bulk-dismissal': ['alert-dismissals'],
  'workload-push': ['workloads', 'pushes'],
  'workload-lookup': ['workload-lookups'],
  'workload-update': ['workload-updates'],
  'workload-delete': ['workload-deletes'],
  unknown: [],
};

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

/** Any request to the fake (token requests included), as recorded in {@link FakeAcronisApi.requests}. */
export interface RecordedApiRequest extends RecordedRequest {
  operation: FakeOperation;
  /** The path without the query, as sent (not percent-decoded). */
  path: string;
  /** The query, decoded: a parameter given once is a string, a repeated one an array in order. */
  query: Record<string, string | string[]>;
  /** The parsed JSON body; undefined when there was none or it was not JSON. */
  body: unknown;
  /** The bearer token used, if any. */
  token: string | null;
}

/** A push (POST of an alert or workloads) as the fake received it. */
export interface RecordedPush extends RecordedApiRequest {
  /**
   * For an alert push that created an alert, its id (the one answered, unless an
   * {@link replies.applied} reply replaced the answer); null otherwise and for workloads.
   */
  remoteId: string | null;
}

/** A request that would have done damage on the real platform (a DELETE without an id filter). */
export interface FakeViolation {
  description: string;
  method: string;
  url: string;
  receivedAt: number;
}

/** A workload on the fake platform, as {@link FakeAcronisApi.store} gives it (a copy). */
export interface StoredWorkload {
  /** Assigned by the platform: a random UUID. */
  id: string;
  type: string;
  name: string;
  tenant_id: string;
  client_id: string;
  enabled: boolean;
  allowed_actions: string[];
  attributes: Record<string, unknown>;
  /** RFC 3339 (ISO 8601 UTC with milliseconds). */
  created_at: string;
  updated_at: string;
}

/** One item of a GET /workloads page: `attributes` only with `include_all_attributes=true`. */
export type WorkloadView = Omit<StoredWorkload, 'attributes'> & { attributes?: Record<string, unknown> };

/** The answer to GET /workloads. `after` is there only when a next page exists. */
export interface WorkloadPage {
  items: WorkloadView[];
  paging: { cursors: { after?: string } };
}

export type AlertSeverity = 'ok' | 'information' | 'warning' | 'error' | 'critical';
const SEVERITIES: readonly string[] = ['ok', 'information', 'warning', 'error', 'critical'];
/** The severity of an alert posted without one (the platform takes the alert type's default). */
export const DEFAULT_ALERT_SEVERITY: AlertSeverity = 'warning';

/** An alert on the fake platform, as {@link FakeAcronisApi.store} gives it (a copy). */
export interface StoredAlert {
  /** Lower-case UUID: the one posted, or one the platform picked. */
  id: string;
  type: string;
  category: string;
  severity: AlertSeverity;
  details: Record<string, unknown>;
  tenantID: string;
  _source: string | null;
  _sourceTimeStamp: number | null;
  /** The posted `createdAt`, else `receivedAt`. RFC 3339. */
  createdAt: string;
  receivedAt: string;
  /** Creation, then dismissal. */
  updatedAt: string;
  /** When it was dismissed; null while active. */
  deletedAt: string | null;
  /** The POST body as received (e.g. `ResourceID`, `ResourceName`). */
  body: Record<string, unknown>;
}

/** The answer to GET /alerts/{id} (and the items of GET /alerts): `_source`, `_sourceTimeStamp` and `deletedAt` only when set. */
export interface AlertView {
  id: string;
  type: string;
  category: string;
  severity: AlertSeverity;
  details: Record<string, unknown>;
  _source?: string;
  _sourceTimeStamp?: number;
  tenant: { id: string };
  createdAt: string;
  receivedAt: string;
  updatedAt: string;
  deletedAt?: string;
}

/** A workload to put on the platform without a request ({@link FakeAcronisStore.addWorkload}). */
export interface FakeWorkloadInput {
  type: string;
  name: string;
  tenant_id: string;
  /** Default: the fake's client id. */
  client_id?: string;
  /** Default true. */
  enabled?: boolean;
  /** Default []. */
  allowed_actions?: string[];
  /** Default {}. */
  attributes?: Record<string, unknown>;
  /** Default: a random UUID. */
  id?: string;
}

/** An alert to put on the platform without a request ({@link FakeAcronisStore.addAlert}). */
export interface FakeAlertInput {
  type: string;
  tenantID: string;
  category?: string;
  severity?: AlertSeverity;
  details?: Record<string, unknown>;
  /** Default: a random UUID. Throws if it exists. */
  id?: string;
  _source?: string;
  _sourceTimeStamp?: number;
  createdAt?: string;
  /** Already dismissed at this time. */
  deletedAt?: string;
}

/** The platform's state. Everything it returns is a copy, in creation order. */
export interface FakeAcronisStore {
  /** The workloads that exist (not deleted). */
  workloads(): StoredWorkload[];
  workload(id: string): StoredWorkload | undefined;
  /** Every alert, dismissed ones included (`deletedAt` set). */
  alerts(): StoredAlert[];
  /** By id, case-insensitive; dismissed ones included. */
  alert(id: string): StoredAlert | undefined;
  /** Puts a workload on the platform as if it had been posted; returns it. */
  addWorkload(input: FakeWorkloadInput): StoredWorkload;
  /** Puts an alert on the platform as if it had been posted; returns it. */
  addAlert(input: FakeAlertInput): StoredAlert;
}

/** Settings that can be changed while the server runs ({@link FakeAcronisApi.setBehaviour}). */
export interface FakeBehaviour {
  /** Seconds a new token lives. Default 7200 (the platform's 2 h). */
  tokenLifetimeSeconds: number;
  /** How token answers state the lifetime: absolute `expires_on` (the docs) or relative `expires_in` (the sample's types). */
  tokenExpiryField: 'expires_on' | 'expires_in';
  /** Delay before every API answer (pushes, lookups, updates, deletes), ms. Default 0. State changes happen on arrival. */
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

const ALERTS_PATH = '/api/alert_manager/v1/alerts';
const WORKLOADS_PATH = '/api/workload_management/v5/workloads';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const RFC3339 = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

/** Workload Management's limits (the connector guide). */
const MAX_TENANT_IDS = 100;
const MAX_TYPES = 10;
const MAX_WORKLOAD_IDS = 100;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

const ALERT_NOT_FOUND = { message: 'Alert was not found.' };
const ALERT_EXISTS = { error: 'conflict', message: 'Alert already exists.' };
const WORKLOAD_NOT_FOUND = { error: 'not_found', message: 'Workload was not found.' };

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

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** The body as sent: every content type is parsed as a string (see the constructor); none when there was no body. */
function rawBodyOf(request: FastifyRequest): string {
  return typeof request.body === 'string' ? request.body : '';
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

function splitUrl(url: string): { path: string; query: Record<string, string | string[]> } {
  const at = url.indexOf('?');
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(at < 0 ? '' : url.slice(at + 1))) {
    const seen = query[key];
    query[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return { path: at < 0 ? url : url.slice(0, at), query };
}

const now = (): string => new Date().toISOString();
const badRequest = (message: string): FakeReply => replies.json(400, { error: 'validation_error', message });

/** A query the fake refuses: answered 400 with its message. */
class InvalidQuery extends Error {}

/** Refuses parameters other than `allowed`: silently ignoring one the platform knows would hide a client bug here. */
function onlyParams(query: Record<string, string | string[]>, allowed: readonly string[]): void {
  for (const name of Object.keys(query)) {
    if (!allowed.includes(name)) throw new InvalidQuery(`query parameter ${name} is not supported (by the platform or by this fake)`);
  }
}

/** A parameter that may be given at most once. */
function single(query: Record<string, string | string[]>, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw new InvalidQuery(`${name} may be given once (use or(a,b) for several values)`);
  return value;
}

function all(query: Record<string, string | string[]>, name: string): string[] {
  const value = query[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** `value` or `or(v1,v2,…)`, at most `max` distinct values; no empty values, spaces or brackets inside. */
function orList(name: string, raw: string, max: number): string[] {
  let parts = [raw];
  if (raw.startsWith('or(')) {
    if (!raw.endsWith(')')) throw new InvalidQuery(`${name}: malformed or(…)`);
    parts = raw.slice('or('.length, -1).split(',');
  }
  if (parts.some((part) => part === '' || /[\s(),]/.test(part))) throw new InvalidQuery(`${name}: malformed value`);
  const values = [...new Set(parts)];
  if (values.length > max) throw new InvalidQuery(`${name}: at most ${max} values`);
  return values;
}

function booleanParam(query: Record<string, string | string[]>, name: string): boolean {
  const value = single(query, name);
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new InvalidQuery(`${name} must be true or false`);
}

function limitParam(query: Record<string, string | string[]>): number {
  const value = single(query, 'limit');
  if (value === undefined) return DEFAULT_LIMIT;
  const limit = /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) throw new InvalidQuery(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  return limit;
}

/** Why an alert body is not one the Alert Manager would take, or null. */
function alertProblem(body: unknown): string | null {
  if (!isRecord(body)) return 'body is not a JSON object';
  for (const field of ['type', 'category', 'tenantID'] as const) if (typeof body[field] !== 'string') return `${field} must be a string`;
  if (!isRecord(body.details) || typeof body.details.title !== 'string') return 'details.title must be a string';
  if ((body.ResourceID === undefined) !== (body.ResourceName === undefined)) return 'ResourceID and ResourceName go together';
  if (body.id !== undefined && (typeof body.id !== 'string' || !UUID.test(body.id))) return 'id must be a UUID';
  if (body._source !== undefined && typeof body._source !== 'string') return '_source must be a string';
  if (body._sourceTimeStamp !== undefined && !Number.isInteger(body._sourceTimeStamp)) return '_sourceTimeStamp must be an integer';
  if (body.severity !== undefined && !SEVERITIES.includes(body.severity as string)) return `severity must be one of ${SEVERITIES.join(', ')}`;
  if (body.createdAt !== undefined && (typeof body.createdAt !== 'string' || !RFC3339.test(body.createdAt))) return 'createdAt must be an RFC 3339 date-time';
  return null;
}

/** Why a workload body is not one Workload Management would take, or null. */
function workloadProblem(body: unknown, clientId: string): string | null {
  if (!isRecord(body) || !Array.isArray(body.items) || body.items.length === 0) return 'items must be a non-empty array';
  for (const item of body.items as unknown[]) {
    if (!isRecord(item)) return 'items[] must be objects';
    for (const field of ['type', 'name', 'tenant_id'] as const) if (typeof item[field] !== 'string') return `items[].${field} must be a string`;
    if (item.client_id !== clientId) return 'items[].client_id must be the API client id';
    if (item.attributes !== undefined && !isRecord(item.attributes)) return 'items[].attributes must be an object';
    if (item.allowed_actions !== undefined && !isStringArray(item.allowed_actions)) return 'items[].allowed_actions must be an array of strings';
    if (item.enabled !== undefined && typeof item.enabled !== 'boolean') return 'items[].enabled must be a boolean';
  }
  return null;
}

const WORKLOAD_PATCH_FIELDS = ['name', 'attributes', 'client_id', 'allowed_actions', 'enabled'];

/** Why a PATCH body is not one Workload Management would take, or null. */
function workloadPatchProblem(body: unknown, clientId: string): string | null {
  if (!isRecord(body)) return 'body is not a JSON object';
  for (const field of Object.keys(body)) if (!WORKLOAD_PATCH_FIELDS.includes(field)) return `${field} cannot be updated (only ${WORKLOAD_PATCH_FIELDS.join(', ')})`;
  if (body.name !== undefined && typeof body.name !== 'string') return 'name must be a string';
  if (body.attributes !== undefined && !isRecord(body.attributes)) return 'attributes must be an object';
  if (body.client_id !== undefined && body.client_id !== clientId) return 'client_id must be the API client id';
  if (body.allowed_actions !== undefined && !isStringArray(body.allowed_actions)) return 'allowed_actions must be an array of strings';
  if (body.enabled !== undefined && typeof body.enabled !== 'boolean') return 'enabled must be a boolean';
  return null;
}

function workloadView(workload: StoredWorkload, withAttributes: boolean): WorkloadView {
  const { attributes, ...rest } = workload;
  return structuredClone(withAttributes ? { ...rest, attributes } : rest);
}

function alertView(alert: StoredAlert): AlertView {
  return structuredClone({
    id: alert.id,
    type: alert.type,
    category: alert.category,
    severity: alert.severity,
    details: alert.details,
    ...(alert._source !== null && { _source: alert._source }),
    ...(alert._sourceTimeStamp !== null && { _sourceTimeStamp: alert._sourceTimeStamp }),
    tenant: { id: alert.tenantID },
    createdAt: alert.createdAt,
    receivedAt: alert.receivedAt,
    updatedAt: alert.updatedAt,
    ...(alert.deletedAt !== null && { deletedAt: alert.deletedAt }),
  });
}

/** The fake server. Start one with {@link startFakeAcronisApi}. */
export class FakeAcronisApi {
  /** Base URL, e.g. `http://127.0.0.1:43121`: the client's `dcUrl`. */
  url = '';
  readonly clientId: string;
  readonly clientSecret: string;
  /** Every token request, answered or not. */
  readonly tokenRequests: RecordedApiRequest[] = [];
  /** Every alert push (POST), in arrival order, whatever was answered. */
  readonly alerts: RecordedPush[] = [];
  /** Every workload push (POST), in arrival order, whatever was answered. */
  readonly workloads: RecordedPush[] = [];
  /** Every request of any kind (tokens, pushes, lookups, updates, deletes, unrouted ones), in arrival order. */
  readonly requests: RecordedApiRequest[] = [];
  /** Requests that would have done damage on the real platform; a test should expect none. */
  readonly violations: FakeViolation[] = [];
  /** Every token handed out since start or the last {@link reset}, oldest first. */
  readonly issuedTokens: string[] = [];
  /** The platform's state: the workloads and alerts that exist. */
  readonly store: FakeAcronisStore;

  private behaviour: FakeBehaviour;
  private readonly app: FastifyInstance;
  /** token → epoch ms when it expires. */
  private readonly tokens = new Map<string, number>();
  private readonly queues = Object.fromEntries(Object.values(TARGETS).flatMap((targets) => targets.map((target) => [target, [] as FakeReply[]]))) as Record<
    FakeTarget,
    FakeReply[]
  >;
  private readonly hanging = new Set<ServerResponse>();
  private fractionSeen = 0;
  private pushIndex = 0;
  private tokenCount = 0;
  /** Live workloads in creation order, each with its position for the paging cursor. */
  private readonly workloadsById = new Map<string, { seq: number; workload: StoredWorkload }>();
  private workloadSeq = 0;
  /** Every alert by lower-case id, in creation order. */
  private readonly alertsById = new Map<string, StoredAlert>();
  /** Signs paging cursors: a cursor from another instance, or forged, is refused. */
  private readonly cursorKey = randomBytes(32);

  /** @internal use {@link startFakeAcronisApi} */
  constructor(options: FakeAcronisApiOptions = {}) {
    const { clientId = 'fake-client-id', clientSecret = 'fake-client-secret', ...behaviour } = options;
    this.clientId = clientId;
    this.clientSecret = clientSecret;
    this.behaviour = { ...DEFAULT_BEHAVIOUR, ...behaviour };
    this.store = {
      workloads: () => [...this.workloadsById.values()].map(({ workload }) => structuredClone(workload)),
      workload: (id) => {
        const entry = this.workloadsById.get(id);
        return entry && structuredClone(entry.workload);
      },
      alerts: () => [...this.alertsById.values()].map((alert) => structuredClone(alert)),
      alert: (id) => {
        const alert = this.alertsById.get(id.toLowerCase());
        return alert && structuredClone(alert);
      },
      addWorkload: (input) => structuredClone(this.createWorkload(input)),
      addAlert: (input) => structuredClone(this.createAlert(input)),
    };
    this.app = Fastify({ logger: false, forceCloseConnections: true, keepAliveTimeout: 60_000 });
    // Raw bodies for every content type: the tests check bytes, and garbage must reach the checks.
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    this.app.post('/bc/idp/token', (request, reply) => this.serve('token', request, reply, (record) => this.token(record)));
    this.app.post(ALERTS_PATH, (request, reply) => this.push('alerts', request, reply));
    this.app.get(ALERTS_PATH, (request, reply) => this.serve('alert-query', request, reply, (record) => this.alertQuery(record)));
    this.app.delete(ALERTS_PATH, (request, reply) =>
      this.serve('alert-bulk-dismissal', request, reply, (record) => this.alertBulkDismissal(record), FakeAcronisApi.bulkDismissalViolation),
    );
    this.app.get<{ Params: { id: string } }>(`${ALERTS_PATH}/:id`, (request, reply) =>
      this.serve('alert-lookup', request, reply, (record) => this.alertLookup(record, request.params.id)),
    );
    this.app.delete<{ Params: { id: string } }>(`${ALERTS_PATH}/:id`, (request, reply) =>
      this.serve('alert-dismissal', request, reply, (record) => this.alertDismissal(record, request.params.id)),
    );
    this.app.post(WORKLOADS_PATH, (request, reply) => this.push('workloads', request, reply));
    this.app.get(WORKLOADS_PATH, (request, reply) => this.serve('workload-lookup', request, reply, (record) => this.workloadLookup(record)));
    this.app.delete(WORKLOADS_PATH, (request, reply) =>
      this.serve('workload-delete', request, reply, (record) => this.workloadDelete(record), FakeAcronisApi.workloadDeleteViolation),
    );
    this.app.patch<{ Params: { id: string } }>(`${WORKLOADS_PATH}/:id`, (request, reply) =>
      this.serve('workload-update', request, reply, (record) => this.workloadUpdate(record, request.params.id)),
    );
    this.app.setNotFoundHandler((request, reply) =>
      this.serve('unknown', request, reply, (record) => replies.json(404, { error: 'not_found', message: `No route ${record.method} ${record.path}` })),
    );
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
   * than `ok` and `applied` bypass the credential and token checks (they script what the
   * server says, whatever was sent) and change nothing; a queued `ok` is the normal, checked answer.
   */
  enqueue(target: FakeTarget, reply: FakeReply, times = 1): void {
    for (let i = 0; i < times; i++) this.queues[target].push(reply);
  }

  /** Makes every token issued so far expired: the next request with one gets 401. */
  expireTokens(): void {
    for (const token of this.tokens.keys()) this.tokens.set(token, 0);
  }

  /** Pushes answered 2xx (alerts and workloads created, unless an `applied` reply hid it: see {@link store}). */
  get created(): { alerts: RecordedPush[]; workloads: RecordedPush[] } {
    const ok = (push: RecordedPush): boolean => push.status !== null && push.status >= 200 && push.status < 300;
    return { alerts: this.alerts.filter(ok), workloads: this.workloads.filter(ok) };
  }

  /** The requests of one kind, in arrival order. */
  requestsTo(operation: FakeOperation): RecordedApiRequest[] {
    return this.requests.filter((request) => request.operation === operation);
  }

  /** The live workloads of one tenant, in creation order (copies). */
  workloadsIn(tenantId: string): StoredWorkload[] {
    return this.store.workloads().filter((workload) => workload.tenant_id === tenantId);
  }

  /** The alerts of one tenant, dismissed ones included, in creation order (copies). */
  alertsIn(tenantId: string): StoredAlert[] {
    return this.store.alerts().filter((alert) => alert.tenantID === tenantId);
  }

  /**
   * Forgets recorded requests, violations, queued replies and the platform's workloads and
   * alerts, and restores the initial behaviour; issued tokens stay valid.
   */
  reset(behaviour: Partial<FakeBehaviour> = {}): void {
    this.tokenRequests.length = 0;
    this.issuedTokens.length = 0;
    this.alerts.length = 0;
    this.workloads.length = 0;
    this.requests.length = 0;
    this.violations.length = 0;
    this.workloadsById.clear();
    this.alertsById.clear();
    for (const queue of Object.values(this.queues)) queue.length = 0;
    this.behaviour = { ...DEFAULT_BEHAVIOUR, ...behaviour };
    this.fractionSeen = 0;
    this.pushIndex = 0;
  }

  /**
   * Forgets the recorded requests (and violations) only: the platform's workloads and alerts, the
   * behaviour and the queued replies stay. For a test that counts what one step sends.
   */
  forgetRequests(): void {
    this.tokenRequests.length = 0;
    this.alerts.length = 0;
    this.workloads.length = 0;
    this.requests.length = 0;
    this.violations.length = 0;
  }

  /** Stops the server, dropping open and hanging connections. */
  async close(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    await this.app.close();
  }

  private recordOf(operation: FakeOperation, request: FastifyRequest): RecordedApiRequest {
    const rawBody = rawBodyOf(request);
    const authorization = header(request.headers, 'authorization');
    return {
      operation,
      method: request.method,
      url: request.url,
      ...splitUrl(request.url),
      headers: request.headers,
      rawBody,
      body: parseJson(rawBody),
      token: authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : null,
      status: null,
      receivedAt: Date.now(),
    };
  }

  /**
   * Records the request (and a violation, whatever is answered), takes the scripted reply if
   * any, else the normal one from `normal`, and answers.
   */
  private serve(
    operation: FakeOperation,
    request: FastifyRequest,
    reply: FastifyReply,
    normal: (record: RecordedApiRequest) => FakeReply,
    violation?: (record: RecordedApiRequest) => string | null,
    scripted?: FakeReply,
    given?: RecordedApiRequest,
  ): Promise<FastifyReply | undefined> {
    const record = given ?? this.recordOf(operation, request);
    this.requests.push(record);
    if (operation === 'token') this.tokenRequests.push(record);
    const description = violation?.(record);
    if (description) this.violations.push({ description, method: record.method, url: record.url, receivedAt: record.receivedAt });
    let script = scripted;
    for (const target of TARGETS[operation]) script ??= this.queues[target].shift();
    let answer: FakeReply;
    if (!script || script.kind === 'ok') {
      answer = normal(record);
    } else if (script.kind === 'applied') {
      const done = normal(record);
      answer = script.then.kind === 'ok' || script.then.kind === 'applied' ? done : script.then;
    } else {
      answer = script;
    }
    const delay = operation === 'token' ? this.behaviour.tokenServiceTimeMs : this.behaviour.serviceTimeMs;
    return this.answer(answer, record, request, reply, delay);
  }

  private push(endpoint: 'alerts' | 'workloads', request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const operation = endpoint === 'alerts' ? 'alert-push' : 'workload-push';
    const record: RecordedPush = { ...this.recordOf(operation, request), remoteId: null };
    this.pushIndex += 1;
    (endpoint === 'alerts' ? this.alerts : this.workloads).push(record);
    const scripted = this.queues[endpoint].shift() ?? this.queues.pushes.shift() ?? this.fractionReply() ?? this.decided(endpoint, record);
    const normal = (): FakeReply => (endpoint === 'alerts' ? this.alertPush(record) : this.workloadPush(record));
    // A push with no scripted reply must not take one from the queues again in serve().
    return this.serve(operation, request, reply, normal, undefined, scripted ?? replies.ok(), record);
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

  private token(record: RecordedApiRequest): FakeReply {
    const expected = `Basic ${Buffer.from(`${this.clientId}:${this.clientSecret}`).toString('base64')}`;
    if (header(record.headers, 'authorization') !== expected) {
      return replies.json(401, { error: 'invalid_client', error_description: 'Client authentication failed' });
    }
    if (!header(record.headers, 'content-type').startsWith('application/x-www-form-urlencoded')) {
      return replies.json(400, { error: 'invalid_request', error_description: 'Expected a form body' });
    }
    if (new URLSearchParams(record.rawBody).get('grant_type') !== 'client_credentials') return replies.json(400, { error: 'unsupported_grant_type' });
    this.tokenCount += 1;
    const token = `fake-access-token-${this.tokenCount}-${randomUUID()}`;
    const { tokenLifetimeSeconds, tokenExpiryField } = this.behaviour;
    const expiresAt = Date.now() + tokenLifetimeSeconds * 1000;
    this.tokens.set(token, expiresAt);
    this.issuedTokens.push(token);
    const expiry = tokenExpiryField === 'expires_on' ? { expires_on: Math.floor(expiresAt / 1000) } : { expires_in: tokenLifetimeSeconds };
    return replies.json(200, { access_token: token, ...expiry, id_token: `fake-id-token-${this.tokenCount}`, token_type: 'bearer' });
  }

  /** The checks every API request goes through first: a live bearer token (401), and a JSON body where one is expected (415). */
  private refusal(record: RecordedApiRequest, withBody: boolean): FakeReply | null {
    const expiresAt = record.token === null ? undefined : this.tokens.get(record.token);
    if (expiresAt === undefined || Date.now() >= expiresAt) return replies.unauthorized();
    if (withBody && !header(record.headers, 'content-type').startsWith('application/json')) return replies.json(415, { error: 'unsupported_media_type' });
    return null;
  }

  /** Runs `answer`, turning an {@link InvalidQuery} into a 400. */
  private static guarded(answer: () => FakeReply): FakeReply {
    try {
      return answer();
    } catch (error) {
      if (error instanceof InvalidQuery) return badRequest(error.message);
      throw error;
    }
  }

  // ---- Alert Manager v1 ----

  private alertPush(record: RecordedPush): FakeReply {
    const refused = this.refusal(record, true);
    if (refused) return refused;
    const problem = alertProblem(record.body);
    if (problem) return badRequest(problem);
    const body = record.body as Record<string, unknown>;
    if (typeof body.id === 'string' && this.alertsById.has(body.id.toLowerCase())) return replies.json(409, ALERT_EXISTS);
    const alert = this.createAlert({
      ...(body as unknown as FakeAlertInput),
      details: body.details as Record<string, unknown>,
      deletedAt: undefined,
    });
    alert.body = structuredClone(body);
    record.remoteId = alert.id;
    return replies.json(200, { id: alert.id });
  }

  private createAlert(input: FakeAlertInput): StoredAlert {
    const id = (input.id ?? randomUUID()).toLowerCase();
    if (this.alertsById.has(id)) throw new Error(`alert ${id} exists`);
    const receivedAt = now();
    const alert: StoredAlert = {
      id,
      type: input.type,
      category: input.category ?? '',
      severity: input.severity ?? DEFAULT_ALERT_SEVERITY,
      details: structuredClone(input.details ?? {}),
      tenantID: input.tenantID,
      _source: input._source ?? null,
      _sourceTimeStamp: input._sourceTimeStamp ?? null,
      createdAt: input.createdAt ?? receivedAt,
      receivedAt,
      updatedAt: input.deletedAt ?? receivedAt,
      deletedAt: input.deletedAt ?? null,
      body: structuredClone({ ...input }),
    };
    this.alertsById.set(id, alert);
    return alert;
  }

  private alertLookup(record: RecordedApiRequest, id: string): FakeReply {
    const refused = this.refusal(record, false);
    if (refused) return refused;
    return FakeAcronisApi.guarded(() => {
      if (!UUID.test(id)) throw new InvalidQuery('id must be a UUID');
      onlyParams(record.query, ['show_deleted']);
      const showDeleted = booleanParam(record.query, 'show_deleted');
      const alert = this.alertsById.get(id.toLowerCase());
      if (!alert || (alert.deletedAt !== null && !showDeleted)) return replies.json(404, ALERT_NOT_FOUND);
      return replies.json(200, alertView(alert));
    });
  }

  private alertQuery(record: RecordedApiRequest): FakeReply {
    const refused = this.refusal(record, false);
    if (refused) return refused;
    return FakeAcronisApi.guarded(() => {
      const { query } = record;
      onlyParams(query, ['id', 'tenant', 'type', 'category', 'source', 'show_deleted', 'show_deleted_only', 'limit']);
      const ids = all(query, 'id');
      if (ids.some((id) => !UUID.test(id))) throw new InvalidQuery('id must be a UUID');
      const anyOf = (name: string): Set<string> | null => {
        const values = all(query, name).flatMap((raw) => orList(name, raw, Infinity));
        return values.length ? new Set(values) : null;
      };
      const [tenants, types, categories] = [anyOf('tenant'), anyOf('type'), anyOf('category')];
      const wanted = ids.length ? new Set(ids.map((id) => id.toLowerCase())) : null;
      const source = single(query, 'source');
      const showDeleted = booleanParam(query, 'show_deleted');
      const deletedOnly = booleanParam(query, 'show_deleted_only');
      const limit = limitParam(query);
      const items = [...this.alertsById.values()]
        .filter(
          (alert) =>
            (!wanted || wanted.has(alert.id)) &&
            (!tenants || tenants.has(alert.tenantID)) &&
            (!types || types.has(alert.type)) &&
            (!categories || categories.has(alert.category)) &&
            (source === undefined || alert._source === source) &&
            (deletedOnly ? alert.deletedAt !== null : showDeleted || alert.deletedAt === null),
        )
        .slice(0, limit)
        .map(alertView);
      // The spec declares no cursor parameter to come back with: no `after` is given.
      return replies.json(200, { items, paging: { cursors: {} } });
    });
  }

  private alertDismissal(record: RecordedApiRequest, id: string): FakeReply {
    const refused = this.refusal(record, false);
    if (refused) return refused;
    return FakeAcronisApi.guarded(() => {
      if (!UUID.test(id)) throw new InvalidQuery('id must be a UUID');
      onlyParams(record.query, []);
      const alert = this.alertsById.get(id.toLowerCase());
      if (!alert || alert.deletedAt !== null) return replies.json(404, ALERT_NOT_FOUND);
      alert.deletedAt = alert.updatedAt = now();
      return replies.status(204);
    });
  }

  private static bulkDismissalViolation(this: void, record: RecordedApiRequest): string | null {
    if (all(record.query, 'id').some((id) => id !== '')) return null;
    const scope = Object.keys(record.query).length === 0 ? 'without any filter' : 'without an id filter';
    return `DELETE ${ALERTS_PATH} ${scope} dismisses every matching alert of the tenant scope on the real platform`;
  }

  private alertBulkDismissal(record: RecordedApiRequest): FakeReply {
    const refused = this.refusal(record, false);
    if (refused) return refused;
    return FakeAcronisApi.guarded(() => {
      const ids = all(record.query, 'id');
      if (ids.length === 0) throw new InvalidQuery('refused by the fake: a DELETE of alerts needs an id filter (see api.violations)');
      onlyParams(record.query, ['id']);
      if (ids.some((id) => !UUID.test(id))) throw new InvalidQuery('id must be a UUID');
      const at = now();
      for (const id of ids) {
        const alert = this.alertsById.get(id.toLowerCase());
        if (alert && alert.deletedAt === null) alert.deletedAt = alert.updatedAt = at;
      }
      return replies.status(204);
    });
  }

  // ---- Workload Management v5 ----

  private workloadPush(record: RecordedPush): FakeReply {
    const refused = this.refusal(record, true);
    if (refused) return refused;
    const problem = workloadProblem(record.body, this.clientId);
    if (problem) return badRequest(problem);
    for (const item of (record.body as { items: Array<Record<string, unknown>> }).items) {
      this.createWorkload({
        type: item.type as string,
        name: item.name as string,
        tenant_id: item.tenant_id as string,
        client_id: item.client_id as string,
        enabled: item.enabled as boolean | undefined,
        allowed_actions: item.allowed_actions as string[] | undefined,
        attributes: item.attributes as Record<string, unknown> | undefined,
      });
    }
    return replies.status(204);
  }

  private createWorkload(input: FakeWorkloadInput): StoredWorkload {
    const id = input.id ?? randomUUID();
    if (this.workloadsById.has(id)) throw new Error(`workload ${id} exists`);
    const at = now();
    const workload: StoredWorkload = {
      id,
      type: input.type,
      name: input.name,
      tenant_id: input.tenant_id,
      client_id: input.client_id ?? this.clientId,
      enabled: input.enabled ?? true,
      allowed_actions: structuredClone(input.allowed_actions ?? []),
      attributes: structuredClone(input.attributes ?? {}),
      created_at: at,
      updated_at: at,
    };
    this.workloadSeq += 1;
    this.workloadsById.set(id, { seq: this.workloadSeq, workload });
    return workload;
  }

  private workloadLookup(record: RecordedApiRequest): FakeReply {
    const refused = this.refusal(record, false);
    if (refused) return refused;
    return FakeAcronisApi.guarded(() => {
      const { query } = record;
      onlyParams(query, ['tenant_id', 'type', 'workload_id', 'include_all_attributes', 'limit', 'after']);
      const filter = (name: string, max: number): Set<string> | null => {
        const raw = single(query, name);
        return raw === undefined ? null : new Set(orList(name, raw, max));
      };
      const tenants = filter('tenant_id', MAX_TENANT_IDS);
      const types = filter('type', MAX_TYPES);
      const ids = filter('workload_id', MAX_WORKLOAD_IDS);
      const withAttributes = booleanParam(query, 'include_all_attributes');
      const limit = limitParam(query);
      const filterKey = JSON.stringify([tenants, types, ids].map((set) => (set ? [...set].sort() : null)));
      const after = single(query, 'after');
      const afterSeq = after === undefined ? 0 : this.cursorPosition(after, filterKey);

      const page: Array<{ seq: number; workload: StoredWorkload }> = [];
      let more = false;
      for (const entry of this.workloadsById.values()) {
        const { seq, workload } = entry;
        if (seq <= afterSeq) continue;
        if ((tenants && !tenants.has(workload.tenant_id)) || (types && !types.has(workload.type)) || (ids && !ids.has(workload.id))) continue;
        if (page.length === limit) {
          more = true;
          break;
        }
        page.push(entry);
      }
      const body: WorkloadPage = {
        items: page.map(({ workload }) => workloadView(workload, withAttributes)),
        paging: { cursors: more ? { after: this.cursorFor(page[page.length - 1].seq, filterKey) } : {} },
      };
      return replies.json(200, body);
    });
  }

  /** An opaque cursor: the position after which the next page starts, bound to the filters and signed by this instance. */
  private cursorFor(seq: number, filterKey: string): string {
    const payload = Buffer.from(JSON.stringify({ seq, filterKey })).toString('base64url');
    return `${payload}.${this.cursorMac(payload)}`;
  }

  private cursorPosition(cursor: string, filterKey: string): number {
    const [payload, mac, ...rest] = cursor.split('.');
    if (rest.length || !payload || mac !== this.cursorMac(payload)) throw new InvalidQuery('after: not a cursor this API gave');
    const { seq, filterKey: key } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { seq: number; filterKey: string };
    if (key !== filterKey) throw new InvalidQuery('after: the cursor belongs to a query with other filters (tenant_id, type, workload_id)');
    return seq;
  }

  private cursorMac(payload: string): string {
    return createHmac('sha256', this.cursorKey).update(payload).digest('base64url').slice(0, 22);
  }

  private workloadUpdate(record: RecordedApiRequest, id: string): FakeReply {
    const refused = this.refusal(record, true);
    if (refused) return refused;
    return FakeAcronisApi.guarded(() => {
      onlyParams(record.query, []);
      const problem = workloadPatchProblem(record.body, this.clientId);
      if (problem) return badRequest(problem);
      const entry = this.workloadsById.get(id);
      if (!entry) return replies.json(404, WORKLOAD_NOT_FOUND);
      const patch = structuredClone(record.body) as Partial<StoredWorkload>;
      Object.assign(entry.workload, patch, { updated_at: now() });
      return replies.status(204);
    });
  }

  private static workloadDeleteViolation(this: void, record: RecordedApiRequest): string | null {
    if (all(record.query, 'workload_id').some((id) => id !== '')) return null;
    return `DELETE ${WORKLOADS_PATH} without a workload_id filter`;
  }

  private workloadDelete(record: RecordedApiRequest): FakeReply {
    const refused = this.refusal(record, false);
    if (refused) return refused;
    return FakeAcronisApi.guarded(() => {
      if (record.query.workload_id === undefined) throw new InvalidQuery('refused by the fake: a DELETE of workloads needs a workload_id filter (see api.violations)');
      onlyParams(record.query, ['workload_id']);
      const ids = orList('workload_id', single(record.query, 'workload_id') ?? '', MAX_WORKLOAD_IDS);
      for (const id of ids) this.workloadsById.delete(id);
      return replies.status(204);
    });
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
    // serve() turns 'ok' and 'applied' into the normal answer before coming here.
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

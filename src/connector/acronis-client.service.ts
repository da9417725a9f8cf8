import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import axios, { AxiosInstance, AxiosResponse, isAxiosError } from 'axios';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { connectorConfig, ConnectorConfig } from '../config/connector.config';
import { parseRetryAfter } from '../common/backoff';
import { normalizeDatacenterUrl } from './datacenter-policy';
import { AlertBody, LookupOutcome, PushOutcome, RemoteWorkload, WorkloadBody } from './acronis-api.types';

/** Sent on every request (docs/protocols.md, as the sample does). */
export const USER_AGENT = 'ACP 1.0/Vendor Connector';
export const TOKEN_PATH = '/bc/idp/token';
export const ALERTS_PATH = '/api/alert_manager/v1/alerts';
export const WORKLOADS_PATH = '/api/workload_management/v5/workloads';

/** The longest `Retry-After` we honour: a server asking for more is answered with a retry in an hour. */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;
/** Response excerpts kept in outcome errors. */
export const MAX_ERROR_BODY_BYTES = 1024;
/** Workloads per page when listing a tenant's workloads of one type. */
export const WORKLOAD_PAGE_SIZE = 100;
/** Pages followed at most in one listing: 1,000 pages of 100 is far beyond any tenant. */
const MAX_WORKLOAD_PAGES = 1000;

/** A token is renewed this long before it expires, or 10% of its lifetime if that is shorter. */
const TOKEN_REFRESH_MARGIN_MS = 60_000;
/** Lifetime assumed for a token answer that carries neither `expires_on` nor `expires_in`. */
const DEFAULT_TOKEN_LIFETIME_MS = 5 * 60_000;
/** Nothing the API answers is anywhere near this; it bounds what a misbehaving server can make us buffer. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** The part of the connector configuration the client reads. */
export type AcronisClientConfig = Pick<ConnectorConfig, 'credentials' | 'requestTimeoutMs'>;

interface AccessToken {
  value: string;
  /** Epoch ms after which the token is renewed before use. */
  refreshAt: number;
}

/** One data center's token: each data center authenticates the client on its own. */
interface DatacenterSession {
  token: AccessToken | null;
  /** The one token request in flight, shared by every caller that needs a token meanwhile. */
  tokenFlight: Promise<AccessToken> | null;
}

/** Options of {@link AcronisClient.pushAlert}. */
export interface AlertPushOptions {
  /** The alert's id, chosen by the client (a UUID): a repeat is then recognisable. */
  id?: string;
  /** `_source`: the producer. */
  source?: string;
  /** `_sourceTimeStamp`: the producer's own time stamp (an integer). */
  sourceTimeStamp?: number;
  /** The data center (base URL); ACRONIS_DC_URL when absent. */
  dcUrl?: string | null;
}

type HttpAnswer = AxiosResponse<string> | { transportError: string };

/** The token endpoint failed or answered something unusable; a push turns it into a `retry`. */
export class AcronisTokenError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'AcronisTokenError';
  }
}

/** At most {@link MAX_ERROR_BODY_BYTES} of a response body, cut on a character boundary. */
export function excerpt(body: string): string {
  const bytes = Buffer.from(body, 'utf8');
  if (bytes.length <= MAX_ERROR_BODY_BYTES) return body;
  // A multi-byte character cut in half decodes to U+FFFD: drop it.
  return `${bytes.subarray(0, MAX_ERROR_BODY_BYTES - 3).toString('utf8').replace(/\uFFFD+$/, '')}…`;
}

function describeTransportError(error: unknown, timeoutMs: number): string {
  if (isAxiosError(error)) {
    // The overall deadline (AbortSignal) cancels; the idle timeout reports ETIMEDOUT.
    if (error.code === 'ERR_CANCELED' || error.code === 'ETIMEDOUT' || error.code === 'ECONNABORTED') {
      return `ETIMEDOUT: no complete answer within ${timeoutMs} ms`;
    }
    const cause: unknown = error.cause;
    const causeCode = cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
    return `${error.code ?? causeCode ?? 'ERR_NETWORK'}: ${error.message}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : `Error: ${String(error)}`;
}

function requireId(id: string, what: string): void {
  // A filterless DELETE dismisses or deletes everything in the tenant scope: never sent.
  if (typeof id !== 'string' || id.trim() === '') throw new Error(`refusing to ${what} without an id`);
}

function httpError(response: AxiosResponse<string>): string {
  const body = typeof response.data === 'string' ? response.data : '';
  return body ? `HTTP ${response.status}: ${excerpt(body)}` : `HTTP ${response.status}`;
}

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

/** A number, or a numeric string (some gateways stringify them). */
function finiteNumber(value: unknown): number | null {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

/**
 * The Acronis Cyber Platform API as the connector uses it (docs/architecture.md, flow 4 and docs/protocols.md): an OAuth2
 * client-credentials token, cached and refreshed once for all concurrent callers, and the
 * Alert Manager and Workload Management pushes. Pushes never throw for anything the network
 * or the API does: they classify it into a {@link PushOutcome}.
 */
@Injectable()
export class AcronisClient implements OnModuleDestroy {
  private readonly http: AxiosInstance;
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true });
  /** Per data center (base URL): its token. */
  private readonly sessions = new Map<string, DatacenterSession>();

  constructor(@Inject(connectorConfig.KEY) private readonly config: AcronisClientConfig) {
    this.http = axios.create({
      headers: { 'User-Agent': USER_AGENT },
      timeout: config.requestTimeoutMs,
      maxRedirects: 0,
      maxContentLength: MAX_RESPONSE_BYTES,
      validateStatus: () => true,
      // Raw text: garbage answers are ours to classify, not axios's to half-parse.
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      transitional: { clarifyTimeoutError: true },
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
    });
  }

  /** False when any of client id, client secret or data center URL is missing from config. */
  get enabled(): boolean {
    return this.config.credentials !== null;
  }

  /**
   * Creates an alert in `tenantId` (the body's `tenantID`); `remoteId` is the alert id. With an
   * `id`, a 409 (an alert with that id exists: an earlier push of ours got through) counts as sent.
   */
  pushAlert(tenantId: string, body: AlertBody, options: AlertPushOptions = {}): Promise<PushOutcome> {
    // Built field by field so that the JSON is the same whatever order the stored body had.
    const alert = {
      ...(options.id !== undefined && { id: options.id }),
      type: body.type,
      category: body.category,
      details: {
        title: body.details.title,
        category: body.details.category,
        description: body.details.description,
        ...(body.details.fields !== undefined && { fields: body.details.fields }),
      },
      ...(body.ResourceID !== undefined && { ResourceID: body.ResourceID }),
      ...(body.ResourceName !== undefined && { ResourceName: body.ResourceName }),
      ...(options.source !== undefined && { _source: options.source }),
      ...(options.sourceTimeStamp !== undefined && { _sourceTimeStamp: options.sourceTimeStamp }),
      tenantID: tenantId,
    };
    return this.write(options.dcUrl, 'POST', ALERTS_PATH, () => JSON.stringify(alert), (response) => {
      if (response.status === 409 && options.id !== undefined) return { kind: 'sent', status: 409, remoteId: options.id };
      if (response.status < 200 || response.status >= 300) return null;
      const parsed = parseJson(response.data ?? '');
      return { kind: 'sent', status: response.status, remoteId: isRecord(parsed) && typeof parsed.id === 'string' ? parsed.id : (options.id ?? null) };
    });
  }

  /** Whether the alert exists (dismissed ones included): `GET /alerts/{id}?show_deleted=true`, 200 or 404. */
  findAlert(dcUrl: string | null | undefined, id: string): Promise<LookupOutcome<boolean>> {
    return this.read(dcUrl, `${ALERTS_PATH}/${encodeURIComponent(id)}?show_deleted=true`, (response) =>
      response.status === 404 ? { kind: 'ok', value: false } : response.status === 200 ? { kind: 'ok', value: true } : null,
    );
  }

  /** Dismisses one alert by its id: 204, or 404 when it is gone already (both done). Never without an id. */
  dismissAlert(dcUrl: string | null | undefined, id: string): Promise<PushOutcome> {
    requireId(id, 'dismiss an alert');
    return this.write(dcUrl, 'DELETE', `${ALERTS_PATH}/${encodeURIComponent(id)}`, () => null, (response) =>
      response.status === 404 ? { kind: 'sent', status: 404, remoteId: id } : null,
    );
  }

  /** Creates or updates a workload in `tenantId` (the API answers 204, so `remoteId` is null). */
  pushWorkload(tenantId: string, body: WorkloadBody, dcUrl?: string | null): Promise<PushOutcome> {
    // docs/protocols.md field order.
    const item = (clientId: string) => ({
      type: body.type,
      name: body.name,
      attributes: body.attributes,
      client_id: clientId,
      allowed_actions: body.allowed_actions,
      tenant_id: tenantId,
      enabled: body.enabled,
    });
    return this.write(dcUrl, 'POST', WORKLOADS_PATH, (clientId) => JSON.stringify({ items: [item(clientId)] }), () => null);
  }

  /**
   * PATCHes a workload by id with the whole body (name, attributes, client_id, allowed_actions,
   * enabled). A 404 (deleted at Acronis meanwhile) is `gone`: the caller looks it up or creates it.
   */
  updateWorkload(dcUrl: string | null | undefined, id: string, body: WorkloadBody): Promise<PushOutcome | { kind: 'gone' }> {
    requireId(id, 'update a workload');
    const patch = (clientId: string) => ({
      name: body.name,
      attributes: body.attributes,
      client_id: clientId,
      allowed_actions: body.allowed_actions,
      enabled: body.enabled,
    });
    let gone = false;
    return this.write(dcUrl, 'PATCH', `${WORKLOADS_PATH}/${encodeURIComponent(id)}`, (clientId) => JSON.stringify(patch(clientId)), (response) => {
      if (response.status !== 404) return null;
      gone = true;
      return { kind: 'sent', status: 404, remoteId: id };
    }).then((outcome) => (gone ? { kind: 'gone' as const } : outcome));
  }

  /** Deletes one workload by id (`?workload_id=`): 204, or 404 when it is gone already. Never without an id. */
  deleteWorkload(dcUrl: string | null | undefined, id: string): Promise<PushOutcome> {
    requireId(id, 'delete a workload');
    return this.write(dcUrl, 'DELETE', `${WORKLOADS_PATH}?workload_id=${encodeURIComponent(id)}`, () => null, (response) =>
      response.status === 404 ? { kind: 'sent', status: 404, remoteId: id } : null,
    );
  }

  /**
   * Every workload of one type in one tenant, with its attributes, following the pages
   * (`limit`, `paging.cursors.after`).
   */
  async listWorkloads(dcUrl: string | null | undefined, tenantId: string, type: string): Promise<LookupOutcome<RemoteWorkload[]>> {
    const found: RemoteWorkload[] = [];
    let after: string | null = null;
    for (let page = 0; page < MAX_WORKLOAD_PAGES; page++) {
      const query = new URLSearchParams({ tenant_id: tenantId, type, include_all_attributes: 'true', limit: String(WORKLOAD_PAGE_SIZE) });
      if (after !== null) query.set('after', after);
      const outcome: LookupOutcome<{ items: RemoteWorkload[]; after: string | null }> = await this.read(dcUrl, `${WORKLOADS_PATH}?${query.toString()}`, (response) => {
        if (response.status !== 200) return null;
        const parsed = parseJson(response.data ?? '');
        if (!isRecord(parsed) || !Array.isArray(parsed.items)) {
          return { kind: 'retry', status: 200, error: `HTTP 200 without an items list: ${excerpt(response.data ?? '')}`, retryAfterMs: null };
        }
        const items = parsed.items.filter(isRecord).flatMap((item): RemoteWorkload[] =>
          typeof item.id === 'string' && item.id !== ''
            ? [{ id: item.id, type: typeof item.type === 'string' ? item.type : type, name: typeof item.name === 'string' ? item.name : '', attributes: isRecord(item.attributes) ? item.attributes : {} }]
            : [],
        );
        const paging = isRecord(parsed.paging) && isRecord(parsed.paging.cursors) ? parsed.paging.cursors : {};
        const next = typeof paging.after === 'string' && paging.after !== '' && items.length > 0 ? paging.after : null;
        return { kind: 'ok', value: { items, after: next } };
      });
      if (outcome.kind !== 'ok') return outcome;
      found.push(...outcome.value.items);
      if (outcome.value.after === null) return { kind: 'ok', value: found };
      after = outcome.value.after;
    }
    return { kind: 'retry', status: null, error: `more than ${MAX_WORKLOAD_PAGES} pages of workloads`, retryAfterMs: null };
  }

  onModuleDestroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private requireCredentials(): NonNullable<AcronisClientConfig['credentials']> {
    if (!this.config.credentials) {
      throw new Error('The Acronis connector is disabled: set ACRONIS_CLIENT_ID, ACRONIS_CLIENT_SECRET and ACRONIS_DC_URL to enable it');
    }
    return this.config.credentials;
  }

  /**
   * A write (POST, PATCH, DELETE) to `path` of the data center. `special` may claim an answer
   * (returning its outcome) before the usual classification: 2xx sent, 429/5xx/transport retry,
   * other 4xx reject. Async, so that a disabled client rejects rather than throws synchronously.
   */
  private async write(
    dcUrl: string | null | undefined,
    method: 'POST' | 'PATCH' | 'DELETE',
    path: string,
    payload: (clientId: string) => string | null,
    special: (response: AxiosResponse<string>) => PushOutcome | null,
  ): Promise<PushOutcome> {
    const json = payload(this.requireCredentials().clientId);
    const answer = await this.send(dcUrl, method, path, json);
    if ('kind' in answer) return answer;
    const claimed = 'status' in answer && special(answer);
    return claimed || this.classify(answer);
  }

  /** A GET of `path`: `parse` turns the answers it understands into a value; anything else is classified as a failed push. */
  private async read<T>(dcUrl: string | null | undefined, path: string, parse: (response: AxiosResponse<string>) => LookupOutcome<T> | null): Promise<LookupOutcome<T>> {
    this.requireCredentials();
    const answer = await this.send(dcUrl, 'GET', path, null);
    if ('kind' in answer) return answer;
    const parsed = 'status' in answer && parse(answer);
    if (parsed) return parsed;
    const outcome = this.classify(answer);
    // A 2xx that `parse` did not take is not what a lookup expects: try again later.
    return outcome.kind === 'sent' ? { kind: 'retry', status: outcome.status, error: `HTTP ${outcome.status}: unexpected answer to GET ${path.split('?')[0]}`, retryAfterMs: null } : outcome;
  }

  /** Sends one request with the data center's token, refreshing it once after a 401. */
  private async send(dcUrl: string | null | undefined, method: string, path: string, json: string | null): Promise<HttpAnswer | Exclude<PushOutcome, { kind: 'sent' }>> {
    const base = normalizeDatacenterUrl(dcUrl ?? this.requireCredentials().dcUrl);
    const session = this.session(base);
    let token: AccessToken;
    try {
      token = await this.currentToken(base, session);
    } catch (error) {
      return this.tokenFailure(error);
    }
    const response = await this.request(base, method, path, json, token);
    if (!('status' in response) || response.status !== 401) return response;
    try {
      token = await this.tokenAfterUnauthorized(base, session, token);
    } catch (error) {
      return this.tokenFailure(error);
    }
    return this.request(base, method, path, json, token);
  }

  private session(base: string): DatacenterSession {
    let session = this.sessions.get(base);
    if (!session) this.sessions.set(base, (session = { token: null, tokenFlight: null }));
    return session;
  }

  private async request(base: string, method: string, path: string, json: string | null, token: AccessToken): Promise<HttpAnswer> {
    try {
      return await this.http.request<string>({
        method,
        url: `${base}${path}`,
        data: json ?? undefined,
        headers: { ...(json !== null && { 'Content-Type': 'application/json' }), Authorization: `Bearer ${token.value}` },
        signal: AbortSignal.timeout(this.config.requestTimeoutMs),
      });
    } catch (error) {
      return { transportError: `${describeTransportError(error, this.config.requestTimeoutMs)} (${method} ${path.split('?')[0]})` };
    }
  }

  private classify(response: HttpAnswer): PushOutcome {
    if (!('status' in response)) return { kind: 'retry', status: null, error: response.transportError, retryAfterMs: null };
    const { status } = response;
    // A 2xx whose body we cannot read still created the item: sending it again would duplicate it.
    if (status >= 200 && status < 300) return { kind: 'sent', status, remoteId: null };
    if (status === 429 || status >= 500) {
      return { kind: 'retry', status, error: httpError(response), retryAfterMs: parseRetryAfter(response.headers['retry-after'], MAX_RETRY_AFTER_MS) };
    }
    if (status >= 400) return { kind: 'reject', status, error: httpError(response) };
    // A redirect means a wrong data center URL, not a bad item: keep the item for when it is fixed.
    const location = typeof response.headers.location === 'string' ? ` to ${response.headers.location}` : '';
    return { kind: 'retry', status, error: `HTTP ${status}: unexpected redirect${location} (check ACRONIS_DC_URL)`, retryAfterMs: null };
  }

  private tokenFailure(error: unknown): Exclude<PushOutcome, { kind: 'sent' }> {
    if (error instanceof AcronisTokenError) {
      return { kind: 'retry', status: null, error: error.message, retryAfterMs: error.retryAfterMs };
    }
    throw error;
  }

  /** The cached token, or the one being fetched, or a new one. */
  private currentToken(base: string, session: DatacenterSession): Promise<AccessToken> {
    if (session.token && Date.now() < session.token.refreshAt) return Promise.resolve(session.token);
    return this.fetchToken(base, session);
  }

  /**
   * After `rejected` got a 401: a newer token if another caller already fetched one (or is
   * fetching it), otherwise a fresh one. Either way one token request for all of them.
   */
  private tokenAfterUnauthorized(base: string, session: DatacenterSession, rejected: AccessToken): Promise<AccessToken> {
    if (session.tokenFlight) return session.tokenFlight;
    if (session.token && session.token !== rejected && Date.now() < session.token.refreshAt) return Promise.resolve(session.token);
    session.token = null;
    return this.fetchToken(base, session);
  }

  private fetchToken(base: string, session: DatacenterSession): Promise<AccessToken> {
    // One promise, handed to every caller: nothing derived from it is left unobserved.
    session.tokenFlight ??= this.requestToken(base).then(
      (token) => {
        session.token = token;
        session.tokenFlight = null;
        return token;
      },
      (error: unknown) => {
        session.tokenFlight = null;
        throw error;
      },
    );
    return session.tokenFlight;
  }

  private async requestToken(base: string): Promise<AccessToken> {
    const { clientId, clientSecret } = this.requireCredentials();
    // Taken before asking: an expires_in counts from when the server answered, a little later.
    const requestedAt = Date.now();
    let response: AxiosResponse<string>;
    try {
      response = await this.http.post<string>(`${base}${TOKEN_PATH}`, 'grant_type=client_credentials', {
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
        },
        signal: AbortSignal.timeout(this.config.requestTimeoutMs),
      });
    } catch (error) {
      throw new AcronisTokenError(`token request failed: ${describeTransportError(error, this.config.requestTimeoutMs)}`);
    }
    const body = typeof response.data === 'string' ? response.data : '';
    if (response.status < 200 || response.status >= 300) {
      throw new AcronisTokenError(`token request failed: ${httpError(response)}`, parseRetryAfter(response.headers['retry-after'], MAX_RETRY_AFTER_MS));
    }
    const parsed = parseJson(body);
    if (!isRecord(parsed)) {
      throw new AcronisTokenError(`token request answered HTTP ${response.status} with a body that is not a JSON object: ${excerpt(body)}`);
    }
    if (typeof parsed.access_token !== 'string' || parsed.access_token === '') {
      throw new AcronisTokenError(`token request answered HTTP ${response.status} without an access_token: ${excerpt(body)}`);
    }
    // expires_in is relative, so immune to clock skew: preferred when both are given.
    const expiresIn = finiteNumber(parsed.expires_in);
    const expiresOn = finiteNumber(parsed.expires_on);
    const expiresAt =
      expiresIn !== null ? requestedAt + expiresIn * 1000 : expiresOn !== null ? expiresOn * 1000 : requestedAt + DEFAULT_TOKEN_LIFETIME_MS;
    const lifetime = expiresAt - requestedAt;
    // A token already expired by our clock is still handed to the callers waiting for it (the
    // server may disagree); it is just not reused.
    const refreshAt = lifetime > 0 ? expiresAt - Math.min(TOKEN_REFRESH_MARGIN_MS, lifetime * 0.1) : requestedAt;
    return { value: parsed.access_token, refreshAt };
  }
}

import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import axios, { AxiosInstance, AxiosResponse, isAxiosError } from 'axios';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { connectorConfig, ConnectorConfig } from '../config/connector.config';
import { AlertBody, PushOutcome, WorkloadBody } from './acronis-api.types';

/** Sent on every request (DESIGN 7.1, as the sample does). */
export const USER_AGENT = 'ACP 1.0/Vendor Connector';
export const TOKEN_PATH = '/bc/idp/token';
export const ALERTS_PATH = '/api/alert_manager/v1/alerts';
export const WORKLOADS_PATH = '/api/workload_management/v5/workloads';

/** The longest `Retry-After` we honour: a server asking for more is answered with a retry in an hour. */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;
/** Response excerpts kept in outcome errors. */
export const MAX_ERROR_BODY_BYTES = 1024;
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

/**
 * Reads a `Retry-After` header (delta-seconds or an HTTP date) as milliseconds from `now`,
 * capped at {@link MAX_RETRY_AFTER_MS}; `null` when absent or unreadable.
 */
export function parseRetryAfter(header: unknown, now: number = Date.now()): number | null {
  const value = Array.isArray(header) ? (header[0] as unknown) : header;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  // Delta-seconds are integers by RFC 9110; fractions are accepted, negative numbers are not.
  if (/^\d+(\.\d+)?$/.test(text)) return Math.min(Math.ceil(Number(text) * 1000), MAX_RETRY_AFTER_MS);
  // All three HTTP date formats start with the day's name; Date.parse alone takes "-5" for a year.
  if (!/^[A-Za-z]{3}/.test(text)) return null;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.min(Math.max(0, date - now), MAX_RETRY_AFTER_MS);
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
 * The Acronis Cyber Platform API as the connector uses it (DESIGN 3 and 7.1): an OAuth2
 * client-credentials token, cached and refreshed once for all concurrent callers, and the
 * Alert Manager and Workload Management pushes. Pushes never throw for anything the network
 * or the API does: they classify it into a {@link PushOutcome}.
 */
@Injectable()
export class AcronisClient implements OnModuleDestroy {
  private readonly http: AxiosInstance;
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true });
  private token: AccessToken | null = null;
  /** The one token request in flight, shared by every caller that needs a token meanwhile. */
  private tokenFlight: Promise<AccessToken> | null = null;

  constructor(@Inject(connectorConfig.KEY) private readonly config: AcronisClientConfig) {
    this.http = axios.create({
      baseURL: config.credentials?.dcUrl,
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

  /** Creates an alert in `tenantId` (the body's `tenantID`); `remoteId` is the alert id Acronis returns. */
  pushAlert(tenantId: string, body: AlertBody): Promise<PushOutcome> {
    // Built field by field so that the JSON is the same whatever order the stored body had.
    const alert = {
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
      tenantID: tenantId,
    };
    return this.push(ALERTS_PATH, () => JSON.stringify(alert), (data) => {
      const parsed = parseJson(data);
      return isRecord(parsed) && typeof parsed.id === 'string' ? parsed.id : null;
    });
  }

  /** Creates or updates a workload in `tenantId`; the API answers 204, so `remoteId` is null. */
  pushWorkload(tenantId: string, body: WorkloadBody): Promise<PushOutcome> {
    // DESIGN 7.1's field order.
    const item = (clientId: string) => ({
      type: body.type,
      name: body.name,
      attributes: body.attributes,
      client_id: clientId,
      allowed_actions: body.allowed_actions,
      tenant_id: tenantId,
      enabled: body.enabled,
    });
    return this.push(WORKLOADS_PATH, (clientId) => JSON.stringify({ items: [item(clientId)] }), () => null);
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

  /** Async, so that a disabled client rejects rather than throws synchronously. */
  private async push(path: string, payload: (clientId: string) => string, remoteIdOf: (data: string) => string | null): Promise<PushOutcome> {
    const json = payload(this.requireCredentials().clientId);
    let token: AccessToken;
    try {
      token = await this.currentToken();
    } catch (error) {
      return this.tokenFailure(error);
    }
    let response = await this.post(path, json, token);
    if (!('status' in response) || response.status !== 401) return this.classify(response, remoteIdOf);
    try {
      token = await this.tokenAfterUnauthorized(token);
    } catch (error) {
      return this.tokenFailure(error);
    }
    response = await this.post(path, json, token);
    return this.classify(response, remoteIdOf);
  }

  private async post(path: string, json: string, token: AccessToken): Promise<AxiosResponse<string> | { transportError: string }> {
    try {
      return await this.http.post<string>(path, json, {
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token.value}` },
        signal: AbortSignal.timeout(this.config.requestTimeoutMs),
      });
    } catch (error) {
      return { transportError: `${describeTransportError(error, this.config.requestTimeoutMs)} (POST ${path})` };
    }
  }

  private classify(response: AxiosResponse<string> | { transportError: string }, remoteIdOf: (data: string) => string | null): PushOutcome {
    if (!('status' in response)) return { kind: 'retry', status: null, error: response.transportError, retryAfterMs: null };
    const { status } = response;
    // A 2xx whose body we cannot read still created the item: sending it again would duplicate it.
    if (status >= 200 && status < 300) return { kind: 'sent', status, remoteId: remoteIdOf(response.data ?? '') };
    if (status === 429 || status >= 500) {
      return { kind: 'retry', status, error: httpError(response), retryAfterMs: parseRetryAfter(response.headers['retry-after']) };
    }
    if (status >= 400) return { kind: 'reject', status, error: httpError(response) };
    // A redirect means a wrong ACRONIS_DC_URL, not a bad item: keep the item for when it is fixed.
    const location = typeof response.headers.location === 'string' ? ` to ${response.headers.location}` : '';
    return { kind: 'retry', status, error: `HTTP ${status}: unexpected redirect${location} (check ACRONIS_DC_URL)`, retryAfterMs: null };
  }

  private tokenFailure(error: unknown): PushOutcome {
    if (error instanceof AcronisTokenError) {
      return { kind: 'retry', status: null, error: error.message, retryAfterMs: error.retryAfterMs };
    }
    throw error;
  }

  /** The cached token, or the one being fetched, or a new one. */
  private currentToken(): Promise<AccessToken> {
    if (this.token && Date.now() < this.token.refreshAt) return Promise.resolve(this.token);
    return this.fetchToken();
  }

  /**
   * After `rejected` got a 401: a newer token if another caller already fetched one (or is
   * fetching it), otherwise a fresh one. Either way one token request for all of them.
   */
  private tokenAfterUnauthorized(rejected: AccessToken): Promise<AccessToken> {
    if (this.tokenFlight) return this.tokenFlight;
    if (this.token && this.token !== rejected && Date.now() < this.token.refreshAt) return Promise.resolve(this.token);
    this.token = null;
    return this.fetchToken();
  }

  private fetchToken(): Promise<AccessToken> {
    // One promise, handed to every caller: nothing derived from it is left unobserved.
    this.tokenFlight ??= this.requestToken().then(
      (token) => {
        this.token = token;
        this.tokenFlight = null;
        return token;
      },
      (error: unknown) => {
        this.tokenFlight = null;
        throw error;
      },
    );
    return this.tokenFlight;
  }

  private async requestToken(): Promise<AccessToken> {
    const { clientId, clientSecret } = this.requireCredentials();
    // Taken before asking: an expires_in counts from when the server answered, a little later.
    const requestedAt = Date.now();
    let response: AxiosResponse<string>;
    try {
      response = await this.http.post<string>(TOKEN_PATH, 'grant_type=client_credentials', {
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
      throw new AcronisTokenError(`token request failed: ${httpError(response)}`, parseRetryAfter(response.headers['retry-after']));
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

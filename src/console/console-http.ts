import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, ErrorCode } from '../common/domain-error';
import type { ActiveSession, SessionEnd } from './console-sessions.service';
import type { Html } from './html';

/** The session cookie: a signed random token (docs/console.md). */
export const SESSION_COOKIE = 'acgw_console';
/** The sign-in form's own token (login CSRF): signed, set with the form, compared with its hidden field. */
export const SIGN_IN_COOKIE = 'acgw_console_signin';
/** Every form's hidden field with the synchronizer token. */
export const CSRF_FIELD = '_csrf';
/** Sent by console.js on its background refreshes: they do not count as activity, and get 401 instead of a redirect. */
export const REFRESH_HEADER = 'x-console-refresh';

/** A request the console guard let through, with its session. */
export type ConsoleRequest = FastifyRequest & { consoleSession?: ActiveSession };

/** No valid session: a page request goes to the sign-in page (and back after it), a refresh gets 401. */
export class SignInRequired extends Error {
  constructor(readonly reason: SessionEnd | null) {
    super('Sign-in required');
  }
}

/** A state-changing request without this session's token, or from another origin. */
export class CsrfRefused extends Error {
  constructor(readonly why: string) {
    super(`Cross-site request refused: ${why}`);
  }
}

/**
 * Security headers of every console page: nothing but this origin's own CSS and JS (no inline
 * script or style), forms only to this origin, never framed, nothing cached.
 */
const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};

export function sendPage(reply: FastifyReply, status: number, page: Html, headers: Record<string, string> = {}): void {
  void reply.code(status).headers({ ...PAGE_HEADERS, ...headers }).send(page.text);
}

/** 303 See Other: after a form, the browser GETs the target (a reload does not send the form again). */
export function redirect(reply: FastifyReply, location: string): void {
  void reply.code(303).headers({ 'cache-control': 'no-store', location }).send();
}

/**
 * Refuses a state-changing request that another origin's page made: an `Origin` that is not this
 * one (a browser sends it on every cross-origin POST, and on same-origin ones too), or, without
 * Origin, a `Sec-Fetch-Site` other than same-origin. The synchronizer token is checked besides.
 */
export function checkSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin !== undefined) {
    if (origin !== `${request.protocol}://${request.host}`) throw new CsrfRefused('the form came from another origin');
    return;
  }
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new CsrfRefused('the form came from another site');
}

/** A query parameter given once as text; anything else (absent, repeated) is undefined. */
export const queryText = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** `value` as one of a page's filters (the keys of `filters`); any other is a 400 that lists them. */
export function chosenFilter<K extends string>(filters: Record<K, string>, value: string, what = 'filter'): K {
  if (!Object.prototype.hasOwnProperty.call(filters, value)) throw new DomainError(ErrorCode.ValidationFailed, `Unknown ${what}; choose one of ${Object.keys(filters).join(', ')}.`);
  return value as K;
}

/** A field of a form body (absent: undefined). */
export function field(body: unknown, name: string): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** The page to return to after sign-in: a console path of this origin (normalized), else the overview. */
export function safeNext(next: string | undefined): string {
  if (next === undefined || next.length > 2048 || !next.startsWith('/')) return '/console';
  const base = 'http://console.invalid';
  const target = URL.canParse(next, base) ? new URL(next, base) : null;
  if (!target || target.origin !== base || !(target.pathname === '/console' || target.pathname.startsWith('/console/'))) return '/console';
  return target.pathname + target.search;
}

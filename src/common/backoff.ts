import { randomInt } from 'node:crypto';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with full jitter, `random(0, min(max, base · 2^(attempts-1)))`, but never
 * sooner than the server's Retry-After.
 */
export function backoffDelayMs(attempts: number, retryAfterMs: number | null, policy: BackoffPolicy): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempts - 1));
  const jitter = ceiling >= 1 ? randomInt(0, Math.floor(ceiling) + 1) : 0;
  return Math.max(retryAfterMs ?? 0, jitter);
}

/**
 * Reads a `Retry-After` header (delta-seconds or an HTTP date; of a repeated header, the first) as
 * milliseconds from `now`, capped at `capMs`; `null` when absent or unreadable.
 */
export function parseRetryAfter(header: unknown, capMs: number, now: number = Date.now()): number | null {
  const value = Array.isArray(header) ? (header[0] as unknown) : header;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  // Delta-seconds are integers by RFC 9110; fractions are accepted, negative numbers are not.
  if (/^\d+(\.\d+)?$/.test(text)) return Math.min(Math.ceil(Number(text) * 1000), capMs);
  // All three HTTP date formats start with the day's name; Date.parse alone takes "-5" for a year.
  if (!/^[A-Za-z]{3}/.test(text)) return null;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.min(Math.max(0, date - now), capMs);
}

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

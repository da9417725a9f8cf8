import { randomInt } from 'node:crypto';

/**
 * The reconnect delay of HIRO's Python client (`actionwebsocket.py`) before attempt `n` (0-based,
 * counted since the last good message): 0, 1, 2 … 10 s, then +10 s up to 60 s, then a random
 * 60–600 s.
 */
export function reconnectDelayMs(attempt: number): number {
  if (attempt <= 10) return attempt * 1000;
  if (attempt <= 15) return (10 + (attempt - 10) * 10) * 1000;
  return randomInt(60_000, 600_001);
}

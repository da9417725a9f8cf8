/**
 * The smallest UUIDv7 of the millisecond `at`: every record made at or after `at` has an id that
 * sorts at or after it (ids are lower-case hex, compared as text on both databases). Turns a time
 * bound into a primary-key bound, so that time filters and the retention sweep need no index on `at`.
 */
export function idFloor(at: Date): string {
  const hex = Math.max(0, Math.floor(at.getTime())).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/** A record id as the API takes it: a lower-case UUID. */
export const RECORD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isRecordId = (value: string): boolean => RECORD_ID.test(value);

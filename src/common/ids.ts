import { v7 } from 'uuid';
import { hasControlCharacters } from './printable';

/**
 * A new row id for the high-volume append tables (events, deliveries, attempts): a UUIDv7, which
 * starts with its creation time, so that inserts land at the end of the primary key's B-tree
 * instead of on a random page of it (far fewer pages written per commit on SQLite and PostgreSQL),
 * and ids sort by creation. Still a UUID, as every id the API shows.
 */
export const newRowId = (): string => v7();

/** An id that can be looked up; anything else is as unknown as a missing row, without a query. */
export const isLookupId = (id: string): boolean => id.length > 0 && id.length <= 64 && !hasControlCharacters(id);

import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { createHmac, randomBytes } from 'node:crypto';
import { authConfig, AuthConfig } from '../config/auth.config';

export interface VerifiedCaller {
  userId: string;
  login: string;
  organizationId: string;
}

/**
 * A short-lived, bounded cache of credentials that verified, so that the platform's repeated
 * callbacks do not pay argon2 each time. Keys are an HMAC of identity and password under a
 * per-process random key: the password itself is never kept. Only successes are cached.
 */
@Injectable()
export class CredentialCache {
  private readonly key = randomBytes(32);
  private readonly entries: LRUCache<string, VerifiedCaller> | null;
  /** userId → cache keys, to drop a user's entries when the user changes. */
  private readonly byUser = new Map<string, Set<string>>();
  /** Bumped by every invalidation: a lookup that raced one must not cache what it read. */
  private epoch = 0;

  constructor(@Inject(authConfig.KEY) config: AuthConfig) {
    this.entries = config.cache.enabled
      ? new LRUCache<string, VerifiedCaller>({
          max: config.cache.maxEntries,
          ttl: config.cache.ttlMs,
          dispose: (value, key) => this.unindex(value.userId, key),
        })
      : null;
  }

  /** The HMAC that stands for these credentials (cache key, and the guard's single-flight key). */
  keyOf(identity: string, password: string): string {
    return createHmac('sha256', this.key).update(identity).update('\0').update(password).digest('base64');
  }

  get(identity: string, password: string): VerifiedCaller | undefined {
    return this.entries?.get(this.keyOf(identity, password));
  }

  /** Taken before reading the user; pass it to `set`. */
  snapshot(): number {
    return this.epoch;
  }

  set(identity: string, password: string, caller: VerifiedCaller, epochAtLookup: number): void {
    if (!this.entries || epochAtLookup !== this.epoch) return;
    const key = this.keyOf(identity, password);
    this.entries.set(key, caller);
    let keys = this.byUser.get(caller.userId);
    if (!keys) this.byUser.set(caller.userId, (keys = new Set()));
    keys.add(key);
  }

  /** Drops every cached credential of a user (called after the user changes or is deleted). */
  invalidateUser(userId: string): void {
    this.epoch++;
    const keys = this.byUser.get(userId);
    if (!keys || !this.entries) return;
    for (const key of [...keys]) this.entries.delete(key);
    this.byUser.delete(userId);
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }

  private unindex(userId: string, key: string): void {
    const keys = this.byUser.get(userId);
    if (!keys) return;
    keys.delete(key);
    if (keys.size === 0) this.byUser.delete(userId);
  }
}

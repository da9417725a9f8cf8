import { CredentialCache } from './credential-cache.service';
import type { AuthConfig } from '../config/auth.config';

const config = (enabled = true, maxEntries = 100, ttlMs = 60_000) => ({ cache: { enabled, maxEntries, ttlMs } }) as AuthConfig;
const caller = (userId: string) => ({ userId, login: userId, organizationId: 'org' });

describe('CredentialCache', () => {
  it('returns what was cached for the same identity and password only', () => {
    const cache = new CredentialCache(config());
    cache.set('alice', 'pw', caller('u1'), cache.snapshot());
    expect(cache.get('alice', 'pw')).toEqual(caller('u1'));
    expect(cache.get('alice', 'other')).toBeUndefined();
    expect(cache.get('bob', 'pw')).toBeUndefined();
  });

  it('does not keep the password in its keys', () => {
    const cache = new CredentialCache(config());
    cache.set('alice', 'very-secret-password', caller('u1'), cache.snapshot());
    const keys = JSON.stringify([...(cache as unknown as { entries: Map<string, unknown> }).entries.keys()]);
    expect(keys).not.toContain('very-secret-password');
  });

  it('drops every entry of a user on invalidation', () => {
    const cache = new CredentialCache(config());
    cache.set('alice', 'pw1', caller('u1'), cache.snapshot());
    cache.set('alice', 'pw2', caller('u1'), cache.snapshot());
    cache.set('bob', 'pw', caller('u2'), cache.snapshot());
    cache.invalidateUser('u1');
    expect(cache.get('alice', 'pw1')).toBeUndefined();
    expect(cache.get('alice', 'pw2')).toBeUndefined();
    expect(cache.get('bob', 'pw')).toEqual(caller('u2'));
  });

  it('ignores a result read before an invalidation that raced it', () => {
    const cache = new CredentialCache(config());
    const epoch = cache.snapshot();
    cache.invalidateUser('u1');
    cache.set('alice', 'pw', caller('u1'), epoch);
    expect(cache.get('alice', 'pw')).toBeUndefined();
  });

  it('is bounded in size', () => {
    const cache = new CredentialCache(config(true, 3));
    for (let i = 0; i < 10; i++) cache.set(`user${i}`, 'pw', caller(`u${i}`), cache.snapshot());
    expect(cache.size).toBe(3);
    expect(cache.get('user9', 'pw')).toBeDefined();
    expect(cache.get('user0', 'pw')).toBeUndefined();
  });

  it('expires entries after the TTL', async () => {
    const cache = new CredentialCache(config(true, 10, 30));
    cache.set('alice', 'pw', caller('u1'), cache.snapshot());
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(cache.get('alice', 'pw')).toBeUndefined();
  });

  it('caches nothing when turned off', () => {
    const cache = new CredentialCache(config(false));
    cache.set('alice', 'pw', caller('u1'), cache.snapshot());
    expect(cache.get('alice', 'pw')).toBeUndefined();
  });
});

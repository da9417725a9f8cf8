import { Inject, Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { DomainError, ErrorCode } from '../common/domain-error';
import { authConfig, AuthConfig } from '../config/auth.config';

export interface Reservation {
  identity: string | undefined;
  address: string;
  /** The address authenticated as the identity recently: it reserved nothing and is never refused. */
  known: boolean;
}

/** Which budget refused a request (in the log line). */
type Limit = 'identity+address' | 'identity' | 'address';

/** Known (identity, address) pairs kept at most: only a right password adds one, so real callers bound it. */
const MAX_KNOWN_ADDRESSES = 100_000;
/** Refusals logged at most once per budget key and window: a hammering client must not flood the log. */
const MAX_LOGGED_KEYS = 10_000;

/**
 * Limits failed authentications so that guessing is slow, without letting anyone lock a partner
 * out by failing on purpose (issue 16). The rules, all per process and per window of
 * AUTH_FAILURE_WINDOW_SECONDS:
 *
 * - An address that authenticated as a login within AUTH_KNOWN_ADDRESS_SECONDS (the platform's
 *   own) is never refused for that login: it reserves nothing, and only its failures still count
 *   towards the login's ceiling below.
 * - Any other attempt reserves a point before hashing (so parallel guesses cannot overrun a
 *   budget) and gets it back when it succeeds:
 *   - per login and address (AUTH_FAILURES_PER_IDENTITY_ADDRESS): one address's wrong passwords
 *     block that login from that address only, never from the others;
 *   - per login, all addresses together (AUTH_FAILURES_PER_IDENTITY, much larger): beyond it, each
 *     address gets one attempt per window for that login. Distributed guessing slows down; a new
 *     address with the right password still gets in on its first try;
 *   - per address (AUTH_FAILURES_PER_ADDRESS): unknown logins and malformed headers (spraying). A
 *     known login's wrong password gives the address its point back: the platform calls from a
 *     few shared addresses, and one partner's stale password must not lock the other tenants out.
 *
 * A refusal is a 429 whose message and Retry-After say when to retry, and a warning in the log
 * naming the login and address (never the password), once per budget and window.
 */
@Injectable()
export class AuthFailureLimiter {
  private readonly logger = new Logger(AuthFailureLimiter.name);
  private readonly byPair: RateLimiterMemory;
  private readonly byIdentity: RateLimiterMemory;
  private readonly byAddress: RateLimiterMemory;
  private readonly ceiling: number;
  /** `identity\0address` of recent successes; null when the exemption is off. */
  private readonly known: LRUCache<string, true> | null;
  /** Budget key → until when its refusals are already logged. */
  private readonly logged = new LRUCache<string, number>({ max: MAX_LOGGED_KEYS });

  constructor(@Inject(authConfig.KEY) config: AuthConfig) {
    const { windowSeconds: duration, perIdentityAddress, perIdentity, perAddress, knownAddressSeconds } = config.failures;
    this.byPair = new RateLimiterMemory({ keyPrefix: 'pair', points: perIdentityAddress, duration });
    // Never consumed, only counted (penalty/reward): exceeding it narrows the pair budget instead of refusing.
    this.byIdentity = new RateLimiterMemory({ keyPrefix: 'id', points: perIdentity, duration });
    this.byAddress = new RateLimiterMemory({ keyPrefix: 'ip', points: perAddress, duration });
    this.ceiling = perIdentity;
    this.known = knownAddressSeconds > 0 ? new LRUCache<string, true>({ max: MAX_KNOWN_ADDRESSES, ttl: knownAddressSeconds * 1000 }) : null;
  }

  /** Takes a point from each budget, or answers 429 (with Retry-After) when one is spent. */
  async reserve(identity: string | undefined, address: string): Promise<Reservation> {
    if (this.isKnown(identity, address)) return { identity, address, known: true };
    try {
      await this.byAddress.consume(address);
    } catch (res) {
      throw this.blocked('address', address, identity, address, res);
    }
    if (identity === undefined) return { identity, address, known: false };
    const pairKey = pairOf(identity, address);
    let pair: RateLimiterRes;
    try {
      pair = await this.byPair.consume(pairKey);
    } catch (res) {
      await this.byAddress.reward(address, 1);
      throw this.blocked('identity+address', pairKey, identity, address, res);
    }
    const all = await this.byIdentity.penalty(identity, 1);
    if (all.consumedPoints > this.ceiling && pair.consumedPoints > 1) {
      // Over the login's ceiling: this address already had its one attempt of the window.
      await Promise.all([this.byIdentity.reward(identity, 1), this.byAddress.reward(address, 1)]);
      throw this.blocked('identity', pairKey, identity, address, pair.msBeforeNext < all.msBeforeNext ? pair : all);
    }
    return { identity, address, known: false };
  }

  /**
   * For a request that needs no verification (its credentials are cached): answers 429 where
   * `reserve` would, without taking a point. The cache must not answer an address's right guess
   * once that address is blocked.
   */
  async checkCached(identity: string, address: string): Promise<void> {
    if (this.isKnown(identity, address)) return;
    const pairKey = pairOf(identity, address);
    const [ip, pair, all] = await Promise.all([this.byAddress.get(address), this.byPair.get(pairKey), this.byIdentity.get(identity)]);
    // A budget refuses the next attempt once it has `points` consumed (`consume` takes one more).
    const spent = (res: RateLimiterRes | null, points: number): boolean => res !== null && res.consumedPoints >= points;
    if (spent(ip, this.byAddress.points)) throw this.blocked('address', address, identity, address, ip);
    if (!pair) return;
    if (spent(pair, this.byPair.points)) throw this.blocked('identity+address', pairKey, identity, address, pair);
    if (all && spent(all, this.ceiling) && spent(pair, 1)) throw this.blocked('identity', pairKey, identity, address, pair.msBeforeNext < all.msBeforeNext ? pair : all);
  }

  async succeeded(reservation: Reservation): Promise<void> {
    const { identity, address } = reservation;
    if (identity !== undefined) this.rememberSuccess(identity, address);
    if (reservation.known) return;
    await Promise.all([
      this.byAddress.reward(address, 1),
      identity !== undefined ? this.byPair.reward(pairOf(identity, address), 1) : undefined,
      identity !== undefined ? this.byIdentity.reward(identity, 1) : undefined,
    ]);
  }

  /** A failure keeps its points, except that a known login's wrong password spares the address. */
  async failed(reservation: Reservation, identityKnown: boolean): Promise<void> {
    const { identity, address } = reservation;
    if (reservation.known) {
      // Not refused, but counted: many failures from a known address still slow the others down.
      if (identity !== undefined) await this.byIdentity.penalty(identity, 1);
      return;
    }
    if (identityKnown) await this.byAddress.reward(address, 1);
  }

  /** Marks the address as recently authenticated as the identity (also on a credential cache hit). */
  rememberSuccess(identity: string, address: string): void {
    this.known?.set(pairOf(identity, address), true);
  }

  private isKnown(identity: string | undefined, address: string): boolean {
    return identity !== undefined && this.known !== null && this.known.has(pairOf(identity, address));
  }

  private blocked(limit: Limit, key: string, identity: string | undefined, address: string, res: unknown): DomainError {
    const ms = res instanceof RateLimiterRes ? res.msBeforeNext : 1000;
    const seconds = Math.max(1, Math.ceil(ms / 1000));
    const now = Date.now();
    const logKey = `${limit}:${key}`;
    if ((this.logged.get(logKey) ?? 0) <= now) {
      this.logged.set(logKey, now + seconds * 1000);
      this.logger.warn(
        { identity: identity?.slice(0, 128), address, limit, retryAfterSeconds: seconds },
        `Authentication refused by the failure limiter (${limit} budget spent), not by a password check: retry after ${seconds} s`,
      );
    }
    // The address as the gateway sees it: behind a proxy that TRUST_PROXY does not name, the proxy's.
    const who = limit === 'address' ? `from ${address}` : limit === 'identity' ? 'for this login' : `for this login from ${address}`;
    return new DomainError(
      ErrorCode.RateLimited,
      `Too many failed authentication attempts ${who}; the credentials were not checked. Retry after ${seconds} seconds.`,
      { 'retry-after': String(seconds) },
    );
  }
}

const pairOf = (identity: string, address: string): string => `${identity}\0${address}`;

import { Inject, Injectable } from '@nestjs/common';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { DomainError, ErrorCode } from '../common/domain-error';
import { authConfig, AuthConfig } from '../config/auth.config';

export interface Reservation {
  identity: string | undefined;
  address: string;
}

/**
 * Limits failed authentications per identity and per client address. Every attempt that has to
 * verify a password reserves a point before hashing (so parallel guesses cannot overrun the
 * budget) and gets it back when it succeeds. A wrong password for an existing login counts
 * against that login only: the platform calls from a few shared addresses, and one partner's
 * stale password must not lock every other tenant out. Unknown logins and malformed headers
 * (spraying) count against the address too.
 */
@Injectable()
export class AuthFailureLimiter {
  private readonly byIdentity: RateLimiterMemory;
  private readonly byAddress: RateLimiterMemory;

  constructor(@Inject(authConfig.KEY) config: AuthConfig) {
    const duration = config.failures.windowSeconds;
    this.byIdentity = new RateLimiterMemory({ keyPrefix: 'id', points: config.failures.perIdentity, duration });
    this.byAddress = new RateLimiterMemory({ keyPrefix: 'ip', points: config.failures.perAddress, duration });
  }

  /** Takes a point from each budget, or answers 429 (with Retry-After) when one is spent. */
  async reserve(identity: string | undefined, address: string): Promise<Reservation> {
    const reservation = { identity, address };
    try {
      await this.byAddress.consume(address);
    } catch (res) {
      throw this.blocked(res);
    }
    if (identity !== undefined) {
      try {
        await this.byIdentity.consume(identity);
      } catch (res) {
        await this.byAddress.reward(address, 1);
        throw this.blocked(res);
      }
    }
    return reservation;
  }

  async succeeded({ identity, address }: Reservation): Promise<void> {
    await Promise.all([this.byAddress.reward(address, 1), identity !== undefined ? this.byIdentity.reward(identity, 1) : undefined]);
  }

  /** A failure keeps its points, except that a known login's wrong password spares the address. */
  async failed({ address }: Reservation, identityKnown: boolean): Promise<void> {
    if (identityKnown) await this.byAddress.reward(address, 1);
  }

  private blocked(res: unknown): DomainError {
    const ms = res instanceof RateLimiterRes ? res.msBeforeNext : 1000;
    return new DomainError(ErrorCode.RateLimited, 'Too many failed authentication attempts.', {
      'retry-after': String(Math.max(1, Math.ceil(ms / 1000))),
    });
  }
}

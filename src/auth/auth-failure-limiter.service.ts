import { Inject, Injectable } from '@nestjs/common';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { authConfig, AuthConfig } from '../config/auth.config';

/**
 * Counts failed authentications per identity and per client address; once either is over its
 * budget for the window, further attempts are refused (429) before any password is hashed.
 * Successes never count.
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

  /** Seconds until the caller may try again, or 0 when not blocked. */
  async blockedFor(identity: string | undefined, address: string): Promise<number> {
    const [id, ip] = await Promise.all([
      identity ? this.byIdentity.get(identity) : Promise.resolve(null),
      this.byAddress.get(address),
    ]);
    const over = (res: RateLimiterRes | null, points: number) =>
      res !== null && res.consumedPoints >= points ? Math.ceil(res.msBeforeNext / 1000) : 0;
    return Math.max(over(id, this.byIdentity.points), over(ip, this.byAddress.points));
  }

  async recordFailure(identity: string | undefined, address: string): Promise<void> {
    const swallow = () => undefined; // a rejection only means the budget is already spent
    await Promise.all([identity ? this.byIdentity.penalty(identity, 1).catch(swallow) : undefined, this.byAddress.penalty(address, 1).catch(swallow)]);
  }
}

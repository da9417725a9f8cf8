import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Registry } from 'prom-client';
import { IsNull, Not, Repository } from 'typeorm';
import { DomainError, ErrorCode, unauthenticated } from '../common/domain-error';
import { Counters } from '../metrics/counters';
import { User } from '../users/user.entity';
import { AuthFailureLimiter } from './auth-failure-limiter.service';
import type { AuthenticatedRequest } from './caller.decorator';
import { CredentialCache, VerifiedCaller } from './credential-cache.service';
import { CyberAppCredentials, parseCyberAppAuth } from './cyberapp-auth.parser';
import { PasswordHasher } from './password-hasher.service';

/**
 * Authenticates the vendor credentials in `X-CyberApp-Auth`. Every failure (malformed header,
 * unknown login, wrong password) answers the same 401 after the same work: one argon2
 * verification, against a dummy hash when there is no stored one. Concurrent requests with the
 * same credentials from the same address share one verification (the platform sends bursts after
 * a restart); per address, because the verification carries that address's limiter reservation.
 * The limits themselves: {@link AuthFailureLimiter}.
 */
@Injectable()
export class CyberAppAuthGuard implements CanActivate {
  private readonly inFlight = new Map<string, Promise<VerifiedCaller>>();
  private readonly counters: Counters;

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly hasher: PasswordHasher,
    private readonly cache: CredentialCache,
    private readonly limiter: AuthFailureLimiter,
    registry: Registry,
  ) {
    this.counters = Counters.for(registry);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    try {
      request.caller = await this.authenticate(request.headers['x-cyberapp-auth'], request.ip);
    } catch (error) {
      // Counted per request here: requests sharing one in-flight verification each fail.
      if (error instanceof DomainError && error.code === ErrorCode.RateLimited) this.counters.authFailed('rate_limited');
      else if (error instanceof DomainError && error.code === ErrorCode.Unauthenticated) this.counters.authFailed('invalid_credentials');
      throw error;
    }
    return true;
  }

  authenticate(header: string | string[] | undefined, address: string): Promise<VerifiedCaller> {
    return this.authenticateCredentials(parseCyberAppAuth(header), address);
  }

  /**
   * The same checks for credentials that came another way (the console's sign-in form, null when
   * malformed): the cache, the failure limiter, one argon2 verification, the same 401 or 429.
   */
  authenticateCredentials(credentials: CyberAppCredentials | null, address: string): Promise<VerifiedCaller> {
    if (!credentials) return this.verify(null, address);
    const cached = this.cache.get(credentials.identity, credentials.password);
    if (cached) return this.servedFromCache(credentials.identity, address, cached);
    const key = `${this.cache.keyOf(credentials.identity, credentials.password)}\0${address}`;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.verify(credentials, address).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async servedFromCache(identity: string, address: string, caller: VerifiedCaller): Promise<VerifiedCaller> {
    await this.limiter.checkCached(identity, address);
    this.limiter.rememberSuccess(identity, address);
    return caller;
  }

  private async verify(credentials: CyberAppCredentials | null, address: string): Promise<VerifiedCaller> {
    const reservation = await this.limiter.reserve(credentials?.identity, address);
    const epoch = this.cache.snapshot();
    const user = credentials
      ? await this.users.findOne({
          select: { id: true, login: true, organizationId: true, password: true },
          where: { login: credentials.identity, password: Not(IsNull()) },
        })
      : null;
    const ok = await this.hasher.verify(user?.password ?? null, credentials?.password ?? '');
    if (!credentials || !user || !ok) {
      await this.limiter.failed(reservation, user !== null);
      throw unauthenticated();
    }
    await this.limiter.succeeded(reservation);
    const caller: VerifiedCaller = { userId: user.id, login: user.login, organizationId: user.organizationId };
    this.cache.set(credentials.identity, credentials.password, caller, epoch);
    return caller;
  }
}

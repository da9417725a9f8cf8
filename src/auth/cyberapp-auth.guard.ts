import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Not, IsNull, Repository } from 'typeorm';
import { DomainError, ErrorCode, unauthenticated } from '../common/domain-error';
import { User } from '../users/user.entity';
import { AuthFailureLimiter } from './auth-failure-limiter.service';
import type { AuthenticatedRequest } from './caller.decorator';
import { CredentialCache, VerifiedCaller } from './credential-cache.service';
import { parseCyberAppAuth } from './cyberapp-auth.parser';
import { PasswordHasher } from './password-hasher.service';

/**
 * Authenticates the vendor credentials in `X-CyberApp-Auth`. Every failure answers the same 401
 * after about the same work (an unknown login is verified against a dummy hash); repeated
 * failures per identity or client address answer 429 before any hashing.
 */
@Injectable()
export class CyberAppAuthGuard implements CanActivate {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly hasher: PasswordHasher,
    private readonly cache: CredentialCache,
    private readonly limiter: AuthFailureLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    request.caller = await this.authenticate(request.headers['x-cyberapp-auth'], request.ip);
    return true;
  }

  async authenticate(header: string | string[] | undefined, address: string): Promise<VerifiedCaller> {
    const credentials = parseCyberAppAuth(header);
    if (credentials) {
      const cached = this.cache.get(credentials.identity, credentials.password);
      if (cached) return cached;
    }
    const retryAfter = await this.limiter.blockedFor(credentials?.identity, address);
    if (retryAfter > 0) {
      throw new DomainError(ErrorCode.RateLimited, 'Too many failed authentication attempts.', { 'retry-after': String(retryAfter) });
    }
    if (!credentials) {
      await this.limiter.recordFailure(undefined, address);
      throw unauthenticated();
    }
    const epoch = this.cache.snapshot();
    const user = await this.users.findOne({
      select: { id: true, login: true, organizationId: true, password: true },
      where: { login: credentials.identity, password: Not(IsNull()) },
    });
    const ok = await this.hasher.verify(user?.password ?? null, credentials.password);
    if (!user || !ok) {
      await this.limiter.recordFailure(credentials.identity, address);
      throw unauthenticated();
    }
    const caller: VerifiedCaller = { userId: user.id, login: user.login, organizationId: user.organizationId };
    this.cache.set(credentials.identity, credentials.password, caller, epoch);
    return caller;
  }
}

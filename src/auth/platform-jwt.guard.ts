import { CanActivate, ExecutionContext, Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { createRemoteJWKSet, errors, JWTPayload, JWTVerifyGetKey, jwtVerify } from 'jose';
import { Registry } from 'prom-client';
import { endpointIdPattern } from '../callbacks/callback-cti';
import { DomainError, ErrorCode, unauthenticated } from '../common/domain-error';
import { appConfig, AppConfig } from '../config/app.config';
import { authConfig, AuthConfig } from '../config/auth.config';
import { Counters } from '../metrics/counters';

interface PlatformClaims extends JWTPayload {
  scope?: unknown;
}

/** Thrown by the key resolver when the JWKS itself could not be had: our outage, not a bad token. */
class KeySetUnavailable extends Error {
  constructor(readonly reason: unknown) {
    super('The platform JWKS could not be fetched');
  }
}

function endpointIdOf(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const context = (body as { context?: unknown }).context;
  if (!context || typeof context !== 'object') return undefined;
  const id = (context as { endpoint_id?: unknown }).endpoint_id;
  return typeof id === 'string' ? id : undefined;
}

function rolesOf(claims: PlatformClaims): unknown[] {
  if (!Array.isArray(claims.scope)) return [];
  return claims.scope.map((entry: unknown) => (entry && typeof entry === 'object' ? (entry as { role?: unknown }).role : undefined));
}

/**
 * Verifies the platform's `Authorization: Bearer <JWT>`: RS256 signed by a key of the Acronis
 * JWKS (fetched and cached by `jose`, refetched on an unknown `kid` at most once per
 * CALLBACK_JWT_JWKS_COOLDOWN_SECONDS), an accepted issuer, not
 * expired, and a `scope[].role` equal to the request's `context.endpoint_id`, which must be one of
 * this CyberApp's endpoints (a token minted for another CyberApp is refused, even when the
 * envelope is rewritten to match it). Any token problem is a 401; a JWKS that cannot be fetched is
 * a 503. Off unless `CALLBACK_JWT=required` (the production default).
 */
@Injectable()
export class PlatformJwtGuard implements CanActivate {
  private readonly logger = new Logger(PlatformJwtGuard.name);
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  /** Endpoint CTI ids of this CyberApp: `cti.a.p.acgw.endpoint.v1.<n>~<APP_CODE>.<name>.v<version>` (v1.0 and v1.1 in the guide). */
  private readonly endpointId: RegExp;
  private readonly counters: Counters;

  constructor(
    @Inject(authConfig.KEY) private readonly config: AuthConfig,
    @Inject(appConfig.KEY) app: AppConfig,
    registry: Registry,
  ) {
    this.counters = Counters.for(registry);
    // jose refetches the key set when a token names a kid it does not hold, at most once per
    // cooldown (counted from the last fetch); concurrent lookups share one fetch.
    this.jwks = createRemoteJWKSet(new URL(config.jwt.jwksUrl), {
      cacheMaxAge: 60 * 60 * 1000,
      cooldownDuration: config.jwt.jwksCooldownMs,
      timeoutDuration: 5000,
    });
    this.endpointId = endpointIdPattern(app.appCode);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.config.jwt.mode === 'off') return true;
    try {
      return await this.verify(context.switchToHttp().getRequest<FastifyRequest>());
    } catch (error) {
      if (error instanceof DomainError) this.counters.authFailed(error.code === ErrorCode.Unavailable ? 'jwks_unavailable' : 'jwt');
      throw error;
    }
  }

  private async verify(request: FastifyRequest): Promise<boolean> {
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match) throw unauthenticated();
    const endpointId = endpointIdOf(request.body);
    if (endpointId === undefined || !this.endpointId.test(endpointId)) throw unauthenticated();
    let claims: PlatformClaims;
    try {
      ({ payload: claims } = await jwtVerify<PlatformClaims>(match[1], this.resolveKey, {
        algorithms: ['RS256'],
        issuer: this.config.jwt.issuers,
        clockTolerance: this.config.jwt.clockToleranceSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      if (error instanceof KeySetUnavailable) {
        this.logger.error({ err: error.reason }, 'Could not fetch the platform JWKS');
        throw new DomainError(ErrorCode.Unavailable, 'Cannot verify the platform token right now.');
      }
      throw unauthenticated();
    }
    if (!rolesOf(claims).includes(endpointId)) throw unauthenticated();
    return true;
  }

  /**
   * Tells the two kinds of key-lookup failure apart: no key for the token's `kid` is the token's
   * fault; anything else (connection refused, timeout, non-200, not a JWKS) is ours. Classified
   * here, where the lookup happens, rather than by error class afterwards: network errors come
   * from another realm under Jest and are not `instanceof Error` there.
   */
  private readonly resolveKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await this.jwks(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new KeySetUnavailable(error);
    }
  };
}

import { CanActivate, ExecutionContext, Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { createRemoteJWKSet, errors, JWTPayload, jwtVerify } from 'jose';
import { DomainError, ErrorCode, unauthenticated } from '../common/domain-error';
import { authConfig, AuthConfig } from '../config/auth.config';

interface PlatformClaims extends JWTPayload {
  scope?: Array<{ role?: unknown }>;
}

function endpointIdOf(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const context = (body as { context?: unknown }).context;
  if (!context || typeof context !== 'object') return undefined;
  const id = (context as { endpoint_id?: unknown }).endpoint_id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Verifies the platform's `Authorization: Bearer <JWT>`: RS256 signed by a key of the Acronis
 * JWKS (fetched and cached by `jose`, refetched on an unknown `kid`), an accepted issuer, not
 * expired, and a `scope[].role` equal to the request's `context.endpoint_id` (a token minted for
 * another CyberApp is refused). Off unless `CALLBACK_JWT=required` (the production default).
 */
@Injectable()
export class PlatformJwtGuard implements CanActivate, OnModuleInit {
  private readonly logger = new Logger(PlatformJwtGuard.name);
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(@Inject(authConfig.KEY) private readonly config: AuthConfig) {
    this.jwks = createRemoteJWKSet(new URL(config.jwt.jwksUrl), { cacheMaxAge: 60 * 60 * 1000, cooldownDuration: 30_000, timeoutDuration: 5000 });
  }

  onModuleInit(): void {
    if (this.config.jwt.mode === 'off') {
      this.logger.warn('CALLBACK_JWT=off: callbacks are accepted without the platform JWT. Set CALLBACK_JWT=required in production.');
    }
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.config.jwt.mode === 'off') return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match) throw unauthenticated();
    const endpointId = endpointIdOf(request.body);
    let claims: PlatformClaims;
    try {
      ({ payload: claims } = await jwtVerify<PlatformClaims>(match[1], this.jwks, {
        algorithms: ['RS256'],
        issuer: this.config.jwt.issuers,
        clockTolerance: this.config.jwt.clockToleranceSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      if (error instanceof errors.JWKSTimeout || (error instanceof Error && !(error instanceof errors.JOSEError))) {
        this.logger.error({ err: error }, 'Could not fetch the platform JWKS');
        throw new DomainError(ErrorCode.Unavailable, 'Cannot verify the platform token right now.');
      }
      throw unauthenticated();
    }
    const roles = Array.isArray(claims.scope) ? claims.scope.map((s) => s?.role) : [];
    if (endpointId === undefined || !roles.includes(endpointId)) throw unauthenticated();
    return true;
  }
}

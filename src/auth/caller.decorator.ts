import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { VerifiedCaller } from './credential-cache.service';

export type AuthenticatedRequest = FastifyRequest & { caller?: VerifiedCaller };

/** The user authenticated by `X-CyberApp-Auth` (set by CyberAppAuthGuard). */
export const Caller = createParamDecorator((_: unknown, ctx: ExecutionContext): VerifiedCaller => {
  const caller = ctx.switchToHttp().getRequest<AuthenticatedRequest>().caller;
  if (!caller) throw new Error('Caller used on a route without CyberAppAuthGuard');
  return caller;
});

import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { DomainError, ErrorCode } from '../common/domain-error';
import { ActionHandler } from './action-handler.entity';
import { ActionHandlersService } from './action-handlers.service';

export type HandlerRequest = FastifyRequest & { actionHandler?: ActionHandler };

/** `Authorization: Bearer <handler token>` for the handlers' REST reads; 401 in the error envelope otherwise. */
@Injectable()
export class ActionHandlerTokenGuard implements CanActivate {
  constructor(private readonly handlers: ActionHandlersService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<HandlerRequest>();
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const handler = await this.handlers.authenticate(match?.[1]);
    if (!handler) throw new DomainError(ErrorCode.Unauthenticated, 'Invalid or missing handler token.');
    request.actionHandler = handler;
    return true;
  }
}

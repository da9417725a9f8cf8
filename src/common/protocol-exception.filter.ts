import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { renderError } from './error-envelope';

/**
 * The one place where errors become responses: every route answers in the callback protocol's
 * error envelope. Unexpected errors are logged with the request id and answered 500 without
 * details.
 */
@Catch()
export class ProtocolExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProtocolExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    sendError(reply, request, exception, this.logger);
  }
}

/** The error as logged: a database error's bound parameters (passwords, hashes) are left out. */
function loggable(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { parameters: _parameters, driverError: _driverError, ...rest } = error as Error & Record<string, unknown>;
  return Object.assign(new Error(error.message), rest, { name: error.name, stack: error.stack });
}

/** The error envelope's code a request was answered with (the audit trail records it), set by {@link sendError}. */
export type AnsweredRequest = FastifyRequest & { errorCode?: string };

export function sendError(reply: FastifyReply, request: FastifyRequest, exception: unknown, logger: Pick<Logger, 'error'>): void {
  const rendered = renderError(exception, request.body);
  (request as AnsweredRequest).errorCode = rendered.body.code;
  if (rendered.status >= 500) {
    logger.error({ err: loggable(exception), reqId: request.id }, 'Unhandled error while serving a request');
  }
  if (reply.sent) return;
  void reply.status(rendered.status).headers(rendered.headers).send(rendered.body);
}

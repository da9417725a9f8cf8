import { applyDecorators, CanActivate, Controller, ExecutionContext, Injectable, UseFilters, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ConsoleExceptionFilter } from './console-exception.filter';
import { ConsoleSessions } from './console-sessions.service';
import { ConsoleCookies } from './console-cookies.service';
import { checkSameOrigin, ConsoleRequest, CSRF_FIELD, CsrfRefused, field, REFRESH_HEADER, SESSION_COOKIE, SignInRequired } from './console-http';

/**
 * Every console route but sign-in and the assets: a valid session (else {@link SignInRequired}),
 * and on anything but GET the same origin and this session's synchronizer token in the form
 * (else {@link CsrfRefused}, before the handler runs: nothing is changed).
 */
@Injectable()
export class ConsoleAuthGuard implements CanActivate {
  constructor(
    private readonly sessions: ConsoleSessions,
    private readonly cookies: ConsoleCookies,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<ConsoleRequest>();
    const token = this.cookies.read(request, SESSION_COOKIE);
    const refresh = request.headers[REFRESH_HEADER] === '1';
    const session = token === null ? null : await this.sessions.resolve(token, !refresh);
    if (!session) throw new SignInRequired(token === null ? null : 'expired');
    request.consoleSession = session;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      checkSameOrigin(request);
      if (!this.sessions.checkCsrf(session, field(request.body, CSRF_FIELD))) throw new CsrfRefused('the form carries no valid token of this session');
    }
    return true;
  }
}

/** A controller of signed-in console pages under `path`: this guard, errors as pages, left out of the OpenAPI document. */
export const ConsolePages = (path = 'console'): ClassDecorator =>
  applyDecorators(ApiExcludeController(), Controller(path), UseGuards(ConsoleAuthGuard), UseFilters(ConsoleExceptionFilter));

import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DomainError, ErrorCode } from '../common/domain-error';
import { ConsoleAssets } from './console-assets.service';
import { ConsoleCookies } from './console-cookies.service';
import { ConsoleRequest, CsrfRefused, REFRESH_HEADER, redirect, safeNext, sendPage, SESSION_COOKIE, SignInRequired } from './console-http';
import { html, url } from './html';
import { page } from './views/layout';

const TITLES: Partial<Record<number, string>> = {
  400: 'That did not work',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Not possible right now',
  429: 'Too many attempts',
  503: 'Unavailable',
};

/**
 * Errors of the console's routes as pages: no session → the sign-in page (and back after it), a
 * refused cross-site form → 403, the services' errors (404 for another organization's rows exactly
 * as for missing ones, 403, 409, 400) with their message, anything else a logged 500 without details.
 */
@Injectable()
@Catch()
export class ConsoleExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(ConsoleExceptionFilter.name);

  constructor(
    private readonly assets: ConsoleAssets,
    private readonly cookies: ConsoleCookies,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<ConsoleRequest>();
    const reply = http.getResponse<FastifyReply>();
    if (reply.sent) return;
    if (exception instanceof SignInRequired) {
      if (request.headers[REFRESH_HEADER] === '1') {
        // The cookie stays: the page reloads, and that request says why the session ended.
        void reply.code(401).headers({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).send('Sign in again.');
        return;
      }
      if (exception.reason !== null) this.cookies.clear(request, reply, SESSION_COOKIE);
      // Back to this page after signing in; a form's action is not repeated (its page is shown instead).
      const back = safeNext(request.method === 'GET' ? request.url : sameOriginPath(request.headers.referer, `${request.protocol}://${request.host}`));
      redirect(reply, url('sign-in', { next: back === '/console' ? undefined : back, ended: exception.reason ?? undefined }));
      return;
    }
    const viewer = request.consoleSession ? { caller: request.consoleSession.caller, csrfToken: request.consoleSession.csrfToken } : null;
    let status = 500;
    let message = 'Something went wrong on our side; it is logged. Try again, or report the time it happened.';
    let headers: Record<string, string> = {};
    if (exception instanceof CsrfRefused) {
      status = 403;
      message = `This form was refused and nothing was changed: ${exception.why}. Reload the console page and send it again.`;
    } else if (exception instanceof DomainError) {
      status = exception.status;
      message = exception.code === ErrorCode.NotFound ? `${exception.message} It does not exist, or it is not in your organization or below it.` : exception.message;
      headers = exception.headers;
    } else if (exception instanceof HttpException && exception.getStatus() < 500) {
      status = exception.getStatus();
      message = status === 404 ? 'Not found.' : exception.message;
    }
    if (status >= 500) this.logger.error({ err: exception, reqId: request.id }, 'Unhandled error while serving a console page');
    sendPage(
      reply,
      status,
      page({
        title: TITLES[status] ?? 'Error',
        assets: this.assets.urls,
        viewer,
        notice: { kind: 'error', text: message },
        body: html`<p><a href="/console">Back to the overview</a></p>`,
      }),
      headers,
    );
  }
}

/** The path and query of a URL of this origin (the Referer of a form), or undefined. */
function sameOriginPath(referer: string | undefined, origin: string): string | undefined {
  const from = referer !== undefined && URL.canParse(referer) ? new URL(referer) : null;
  return from && from.origin === origin ? from.pathname + from.search : undefined;
}

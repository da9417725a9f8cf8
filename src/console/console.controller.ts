import { Body, Controller, Get, Param, Post, Query, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { InjectRepository } from '@nestjs/typeorm';
import type { FastifyReply } from 'fastify';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { Repository } from 'typeorm';
import { credentialsOf } from '../auth/cyberapp-auth.parser';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { DomainError, ErrorCode } from '../common/domain-error';
import { Counters } from '../metrics/counters';
import { User } from '../users/user.entity';
import { ConsoleAssets } from './console-assets.service';
import { ConsoleAuthGuard } from './console-auth.guard';
import { ConsoleCookies } from './console-cookies.service';
import { ConsoleExceptionFilter } from './console-exception.filter';
import {
  checkSameOrigin,
  ConsoleRequest,
  CSRF_FIELD,
  CsrfRefused,
  field,
  queryText,
  redirect,
  safeNext,
  sendPage,
  SESSION_COOKIE,
  SIGN_IN_COOKIE,
} from './console-http';
import { ConsoleOverviewService } from './console-overview.service';
import { ConsoleSessions } from './console-sessions.service';
import { viewerOf } from './console-viewer';
import { overviewPage } from './views/overview';
import { signInPage, SignInView } from './views/sign-in';

/** How long a sign-in form stays usable (its cookie's lifetime). */
const SIGN_IN_FORM_SECONDS = 3600;

const ENDED: Record<string, { kind: 'ok' | 'error'; text: string }> = {
  expired: { kind: 'error', text: 'Your session has ended (idle too long, expired, or your password changed). Sign in again.' },
  'signed-out': { kind: 'ok', text: 'You are signed out.' },
};

/**
 * The operator console's entry (docs/console.md): sign-in with the vendor credentials of the APIs
 * (the same checks as `X-CyberApp-Auth`: {@link CyberAppAuthGuard}, with its failure limiter),
 * sign-out, the overview, and the two static assets.
 */
@ApiExcludeController()
@Controller('console')
@UseFilters(ConsoleExceptionFilter)
export class ConsoleController {
  private readonly counters: Counters;

  constructor(
    private readonly assets: ConsoleAssets,
    private readonly sessions: ConsoleSessions,
    private readonly credentials: CyberAppAuthGuard,
    private readonly overview: ConsoleOverviewService,
    private readonly cookies: ConsoleCookies,
    @InjectRepository(User) private readonly users: Repository<User>,
    registry: Registry,
  ) {
    this.counters = Counters.for(registry);
  }

  @Get()
  @UseGuards(ConsoleAuthGuard)
  async home(@Req() request: ConsoleRequest, @Res() reply: FastifyReply): Promise<void> {
    const viewer = viewerOf(request);
    sendPage(reply, 200, overviewPage(this.assets.urls, viewer, await this.overview.read(viewer.caller)));
  }

  @Get('assets/:name')
  asset(@Param('name') name: string, @Res() reply: FastifyReply): void {
    const asset = this.assets.get(name);
    if (!asset) throw new DomainError(ErrorCode.NotFound, 'No such file.');
    void reply
      .headers({ 'content-type': asset.type, 'cache-control': 'public, max-age=31536000, immutable', 'x-content-type-options': 'nosniff' })
      .send(asset.body);
  }

  @Get('sign-in')
  async signInForm(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Query() query: Record<string, unknown>): Promise<void> {
    const next = safeNext(queryText(query.next));
    const token = this.cookies.read(request, SESSION_COOKIE);
    if (token !== null && (await this.sessions.resolve(token, true))) return redirect(reply, next);
    const ended = queryText(query.ended);
    this.showSignIn(request, reply, 200, { next, message: ended !== undefined ? (ENDED[ended] ?? null) : null });
  }

  /**
   * Checks the form's own token (login CSRF) and origin, then the credentials exactly as the
   * APIs do; on success a new session (a new random token: nothing from before is reused).
   */
  @Post('sign-in')
  async signIn(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Body() body: unknown): Promise<void> {
    const next = safeNext(field(body, 'next'));
    const login = field(body, 'login') ?? '';
    const formToken = this.cookies.read(request, SIGN_IN_COOKIE);
    try {
      checkSameOrigin(request);
      if (formToken === null || field(body, CSRF_FIELD) !== formToken) throw new CsrfRefused('the sign-in form expired or did not come from this console');
    } catch (error) {
      if (!(error instanceof CsrfRefused)) throw error;
      return this.showSignIn(request, reply, 403, { next, login, message: { kind: 'error', text: `Sign-in refused: ${error.why}. Try again.` } });
    }
    const credentials = credentialsOf(login, field(body, 'password'));
    // Read before the check: a password changed in between leaves a fingerprint that ends the session at once.
    const user = credentials ? await this.users.findOne({ select: { id: true, password: true }, where: { login: credentials.identity } }) : null;
    let userId: string;
    try {
      ({ userId } = await this.credentials.authenticateCredentials(credentials, request.ip));
    } catch (error) {
      if (!(error instanceof DomainError) || (error.code !== ErrorCode.Unauthenticated && error.code !== ErrorCode.RateLimited)) throw error;
      const limited = error.code === ErrorCode.RateLimited;
      this.counters.authFailed(limited ? 'rate_limited' : 'invalid_credentials');
      const text = limited ? error.message : 'Wrong login or password.';
      return this.showSignIn(request, reply, limited ? 429 : 401, { next, login, message: { kind: 'error', text } }, error.headers);
    }
    if (!user || user.id !== userId || user.password === null) {
      return this.showSignIn(request, reply, 401, { next, login, message: { kind: 'error', text: 'Wrong login or password.' } });
    }
    const previous = this.cookies.read(request, SESSION_COOKIE);
    if (previous !== null) await this.sessions.endToken(previous);
    this.cookies.set(request, reply, SESSION_COOKIE, await this.sessions.create(user.id, user.password));
    this.cookies.clear(request, reply, SIGN_IN_COOKIE);
    redirect(reply, next);
  }

  @Post('sign-out')
  @UseGuards(ConsoleAuthGuard)
  async signOut(@Req() request: ConsoleRequest, @Res() reply: FastifyReply): Promise<void> {
    if (request.consoleSession) await this.sessions.end(request.consoleSession.id);
    this.cookies.clear(request, reply, SESSION_COOKIE);
    redirect(reply, '/console/sign-in?ended=signed-out');
  }

  /** Any other path under /console, once signed in: a page, not the APIs' JSON. */
  @Get('*')
  @UseGuards(ConsoleAuthGuard)
  unknown(): never {
    throw new DomainError(ErrorCode.NotFound, 'There is no such console page.');
  }

  /** The form with a fresh form token (also in its cookie). */
  private showSignIn(request: ConsoleRequest, reply: FastifyReply, status: number, view: Omit<SignInView, 'assets' | 'formToken'>, headers: Record<string, string> = {}): void {
    const formToken = randomBytes(24).toString('base64url');
    this.cookies.set(request, reply, SIGN_IN_COOKIE, formToken, SIGN_IN_FORM_SECONDS);
    sendPage(reply, status, signInPage({ ...view, assets: this.assets.urls, formToken }), headers);
  }
}

import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createTestApp, TestApp } from '../setup/create-test-app';
import type { BrowserSession, Navigation } from './browser/browser-client';

/** Fast webhook delivery to local receivers: two attempts 50 ms apart, then failed. */
export const CONSOLE_ENV: Record<string, string> = {
  WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8,::1',
  WEBHOOKS_POLL_MS: '100',
  WEBHOOKS_BACKOFF_BASE_MS: '50',
  WEBHOOKS_BACKOFF_MAX_MS: '100',
  WEBHOOKS_MAX_ATTEMPTS: '2',
  WEBHOOKS_TIMEOUT_MS: '2000',
  CONSOLE_COOKIE_SECRET: 'console-test-cookie-secret-of-at-least-32-chars',
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
};

export interface ConsoleApp extends TestApp {
  /** `http://127.0.0.1:<port>`: the app listens, for a real browser. */
  base: string;
}

/** The real app, listening on 127.0.0.1 on a free port. */
export async function startConsoleApp(env: Record<string, string> = {}): Promise<ConsoleApp> {
  const t = await createTestApp({ ...CONSOLE_ENV, ...env });
  await t.app.listen(0, '127.0.0.1');
  const { port } = t.app.getHttpServer().address() as AddressInfo;
  return { ...t, base: `http://127.0.0.1:${port}` };
}

/** Signs in through the form, as a user would. */
export async function signIn(session: BrowserSession, login: string, password: string, path = '/console/sign-in'): Promise<Navigation> {
  await session.goto(path);
  await session.type('#login', login);
  await session.type('#password', password);
  return session.clickAndWait('form.sign-in button[type="submit"]');
}

/** The hidden `_csrf` value of the first form in a page. */
export function csrfOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error('no _csrf field in the page');
  return match[1];
}

/** The `name=value` of a Set-Cookie header (for a Cookie header). */
export function cookiePair(setCookie: string): string {
  return setCookie.split(';')[0];
}

export function setCookies(res: request.Response): string[] {
  const raw = res.headers['set-cookie'] as string[] | string | undefined;
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
}

/** A session over plain HTTP (no browser): the cookie and the page's token after signing in. */
export interface HttpSession {
  cookie: string;
  csrf: string;
}

export async function httpSignIn(t: TestApp, login: string, password: string, headers: Record<string, string> = {}): Promise<HttpSession & { setCookie: string }> {
  const form = await request(t.server).get('/console/sign-in').set(headers).expect(200);
  const signInCookie = cookiePair(setCookies(form)[0]);
  const res = await request(t.server)
    .post('/console/sign-in')
    .set(headers)
    .set('cookie', signInCookie)
    .type('form')
    .send({ _csrf: csrfOf(form.text), login, password, next: '/console' })
    .expect(303);
  const setCookie = setCookies(res).find((c) => c.startsWith('acgw_console='));
  if (!setCookie) throw new Error('no session cookie');
  const home = await request(t.server).get('/console').set('cookie', cookiePair(setCookie)).expect(200);
  return { cookie: cookiePair(setCookie), csrf: csrfOf(home.text), setCookie };
}

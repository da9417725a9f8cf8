import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { createTree, Tree } from '../factories/organizations';
import { createDelivery, createSubscription } from '../factories/webhooks';
import { snapshot } from '../setup/snapshot';
import { TEST_DB } from '../setup/test-database';
import { BrowserClient, BrowserSession } from './browser/browser-client';
import { ConsoleApp, cookiePair, csrfOf, httpSignIn, setCookies, signIn, startConsoleApp } from './console-app';

jest.setTimeout(120_000);

/** A page of another origin whose button posts a form to the console (as a malicious site would). */
async function startAttacker(action: string): Promise<{ port: number; close(): Promise<void> }> {
  const page = `<!doctype html><title>Win</title><form method="post" action="${action}"><input type="hidden" name="_csrf" value="guessed"><button id="win">Claim your prize</button></form>`;
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe(`console CSRF and cookies on ${TEST_DB}`, () => {
  let t: ConsoleApp;
  let tree: Tree;
  let failed: WebhookDelivery;

  beforeAll(async () => {
    t = await startConsoleApp({ WEBHOOKS_WORKER_ENABLED: 'false' });
    tree = await createTree(t.dataSource);
    const sub = await createSubscription(t.dataSource, { organizationId: tree.partner.id });
    failed = await createDelivery(t.dataSource, { subscriptionId: sub.id, state: DeliveryState.Failed });
  });
  afterAll(() => t.close());

  const replays = () => t.dataSource.getRepository(WebhookDelivery).countBy({ redeliveryOf: failed.id });
  const replay = (cookie: string) => request(t.server).post(`/console/deliveries/${failed.id}/replay`).set('cookie', cookie).type('form');

  describe('in the browser', () => {
    let browser: BrowserClient;
    let session: BrowserSession;

    beforeAll(async () => {
      browser = await BrowserClient.start();
      session = await browser.session(t.base);
      await signIn(session, 'partner', tree.password);
    });
    afterAll(async () => {
      await session.close();
      await browser.close();
    });

    it('refuses a form posted from a page of another origin on the same site (another port): 403, nothing done', async () => {
      const attacker = await startAttacker(`${t.base}/console/deliveries/${failed.id}/replay`);
      try {
        const before = await snapshot(t.dataSource);
        await session.goto(`http://127.0.0.1:${attacker.port}/`);
        // SameSite=Strict lets the cookie through (same site: ports do not count); the origin and token checks do not.
        const landed = await session.clickAndWait('#win');
        expect(landed).toEqual({ status: 403, url: `${t.base}/console/deliveries/${failed.id}/replay` });
        expect(await session.text('[role="alert"]')).toBe(
          'This form was refused and nothing was changed: the form came from another origin. Reload the console page and send it again.',
        );
        await session.screenshot('csrf-refused');
        expect(await snapshot(t.dataSource)).toEqual(before);
        // Still signed in: the refusal ended nothing.
        expect((await session.goto('/console')).url).toBe(`${t.base}/console`);
      } finally {
        await attacker.close();
      }
    });

    it('gets no session cookie sent with a form posted from another site: the console asks to sign in, nothing done', async () => {
      const attacker = await startAttacker(`${t.base}/console/deliveries/${failed.id}/replay`);
      try {
        await session.goto(`http://localhost:${attacker.port}/`);
        const landed = await session.clickAndWait('#win');
        expect(landed).toEqual({ status: 200, url: `${t.base}/console/sign-in` });
        expect(await replays()).toBe(0);
        expect((await session.goto('/console')).url).toBe(`${t.base}/console`);
      } finally {
        await attacker.close();
      }
    });
  });

  describe('over HTTP', () => {
    it('sets the session cookie signed, HttpOnly, SameSite=Strict, path /console, without Secure over plain http, and stores only its hash', async () => {
      const { setCookie, cookie } = await httpSignIn(t, 'partner', tree.password);
      expect(setCookie).toMatch(/^acgw_console=[A-Za-z0-9_-]{43}\.[A-Za-z0-9+/]{43}; Path=\/console; HttpOnly; SameSite=Strict$/);
      const token = cookie.slice('acgw_console='.length).split('.')[0];
      const rows: Array<{ id: string }> = await t.dataSource.query('SELECT id FROM console_sessions');
      expect(rows.map((r) => r.id)).toContain(createHash('sha256').update(token).digest('hex'));
      expect(rows.map((r) => r.id)).not.toContain(token);

      const form = await request(t.server).get('/console/sign-in').expect(200);
      expect(setCookies(form)[0]).toMatch(/^acgw_console_signin=[^;]+; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=3600$/);
    });

    it('adds Secure behind a TRUST_PROXY proxy that says https, and always with CONSOLE_COOKIE_SECURE=always', async () => {
      const proxied = await startConsoleApp({ TRUST_PROXY: 'true' });
      const forced = await startConsoleApp({ CONSOLE_COOKIE_SECURE: 'always' });
      try {
        await createTree(proxied.dataSource);
        await createTree(forced.dataSource);
        const https = await httpSignIn(proxied, 'partner', tree.password, { 'x-forwarded-proto': 'https' });
        expect(https.setCookie).toMatch(/; HttpOnly; SameSite=Strict; Secure$/);
        const plain = await httpSignIn(proxied, 'partner', tree.password, { 'x-forwarded-proto': 'http' });
        expect(plain.setCookie).not.toContain('Secure');
        // Without TRUST_PROXY the header is not believed.
        expect((await httpSignIn(t, 'partner', tree.password, { 'x-forwarded-proto': 'https' })).setCookie).not.toContain('Secure');
        expect((await httpSignIn(forced, 'partner', tree.password)).setCookie).toMatch(/; Secure$/);
      } finally {
        await proxied.close();
        await forced.close();
      }
    });

    it('serves pages with a strict Content-Security-Policy, no caching and no framing; assets by content hash', async () => {
      const { cookie } = await httpSignIn(t, 'partner', tree.password);
      const page = await request(t.server).get('/console').set('cookie', cookie).expect(200);
      expect(page.headers).toMatchObject({
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        'x-frame-options': 'DENY',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'same-origin',
      });
      const css = /href="(\/console\/assets\/console\.css\?v=[0-9a-f]{16})"/.exec(page.text)?.[1];
      const js = /src="(\/console\/assets\/console\.js\?v=[0-9a-f]{16})"/.exec(page.text)?.[1];
      expect((await request(t.server).get(css ?? '').expect(200)).headers).toMatchObject({ 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=31536000, immutable' });
      expect((await request(t.server).get(js ?? '').expect(200)).headers['content-type']).toBe('text/javascript; charset=utf-8');
      await request(t.server).get('/console/assets/..%2Fconsole.controller.ts').expect(404);
      const unknown = await request(t.server).get('/console/no/such/page').set('cookie', cookie).expect(404);
      expect(unknown.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(unknown.text).toContain('There is no such console page.');
      expect((await request(t.server).get('/console/no/such/page').expect(303)).headers.location).toBe('/console/sign-in?next=%2Fconsole%2Fno%2Fsuch%2Fpage');
      expect(page.text).not.toMatch(/<script>|style="|https?:\/\/(?!127\.0\.0\.1)/);
    });

    it('refuses a state-changing request without the session token, with a wrong one, or with another session’s, changing nothing', async () => {
      const mine = await httpSignIn(t, 'partner', tree.password);
      const theirs = await httpSignIn(t, 'partner', tree.password);
      const before = await snapshot(t.dataSource);
      for (const body of [{}, { _csrf: '' }, { _csrf: 'guessed' }, { _csrf: theirs.csrf }, { _csrf: [mine.csrf, mine.csrf] }]) {
        const res = await replay(mine.cookie).send(body as Record<string, string>);
        expect({ body, status: res.status }).toEqual({ body, status: 403 });
        expect(res.text).toContain('the form carries no valid token of this session');
      }
      expect(await snapshot(t.dataSource)).toEqual(before);
    });

    it('refuses the right token from another origin (Origin, or Sec-Fetch-Site without it), and takes it from this one', async () => {
      const { cookie, csrf } = await httpSignIn(t, 'partner', tree.password);
      const origin = t.base;
      for (const headers of [{ origin: 'http://evil.example' }, { origin: 'null' }, { origin: origin.replace('127.0.0.1', 'localhost') }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }]) {
        const res = await replay(cookie).set(headers).send({ _csrf: csrf });
        expect({ headers, status: res.status }).toEqual({ headers, status: 403 });
      }
      expect(await replays()).toBe(0);
      const ok = await replay(cookie).set({ origin, 'sec-fetch-site': 'same-origin' }).send({ _csrf: csrf }).expect(303);
      expect(ok.headers.location).toMatch(/^\/console\/deliveries\/[0-9a-f-]{36}\?notice=replayed$/);
      expect(await replays()).toBe(1);
    });

    it('refuses a sign-in form without its own cookie or from another origin (login CSRF)', async () => {
      const form = await request(t.server).get('/console/sign-in').expect(200);
      const fields = { _csrf: csrfOf(form.text), login: 'partner', password: tree.password };
      const noCookie = await request(t.server).post('/console/sign-in').type('form').send(fields).expect(403);
      expect(noCookie.text).toContain('Sign-in refused: the sign-in form expired or did not come from this console.');
      const foreign = await request(t.server)
        .post('/console/sign-in')
        .set({ cookie: cookiePair(setCookies(form)[0]), origin: 'http://evil.example' })
        .type('form')
        .send(fields)
        .expect(403);
      expect(setCookies(foreign).some((c) => c.startsWith('acgw_console='))).toBe(false);
    });

    it('treats a tampered or unsigned cookie as no session, and answers a background refresh 401 instead of a redirect', async () => {
      const { cookie } = await httpSignIn(t, 'partner', tree.password);
      const tampered = cookie.slice(0, -2) + (cookie.endsWith('AA') ? 'BB' : 'AA');
      const unsigned = cookie.split('.')[0];
      for (const c of [tampered, unsigned, 'acgw_console=', 'acgw_console="x"']) {
        const res = await request(t.server).get('/console/webhooks').set('cookie', c).expect(303);
        expect(res.headers.location).toBe('/console/sign-in?next=%2Fconsole%2Fwebhooks');
      }
      const refresh = await request(t.server).get('/console/webhooks').set({ cookie: tampered, 'x-console-refresh': '1' }).expect(401);
      expect(refresh.text).toBe('Sign in again.');
      await request(t.server).get('/console/webhooks').set('cookie', cookie).expect(200);
    });

    it('returns after sign-in only to a console path of this origin', async () => {
      for (const [next, location] of [
        ['/console/dead-letters', '/console/dead-letters'],
        ['//evil.example/console', '/console'],
        ['https://evil.example/', '/console'],
        ['/console/../api', '/console'],
        ['/consolex', '/console'],
      ]) {
        const form = await request(t.server).get('/console/sign-in').expect(200);
        const res = await request(t.server)
          .post('/console/sign-in')
          .set('cookie', cookiePair(setCookies(form)[0]))
          .type('form')
          .send({ _csrf: csrfOf(form.text), login: 'partner', password: tree.password, next })
          .expect(303);
        expect({ next, location: res.headers.location }).toEqual({ next, location });
      }
    });

    it('takes no other body than a form under /console (415), and no form elsewhere', async () => {
      const { cookie, csrf } = await httpSignIn(t, 'partner', tree.password);
      await replay(cookie).type('text/plain').send(`_csrf=${csrf}`).expect(415);
      await request(t.server).post('/callback').type('form').send({ a: 1 }).expect(415);
    });
  });
});

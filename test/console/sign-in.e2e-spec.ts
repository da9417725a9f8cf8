import request from 'supertest';
import { hash } from '@node-rs/argon2';
import { User } from '../../src/users/user.entity';
import { createTree, Tree } from '../factories/organizations';
import { cyberAppAuth } from '../setup/protocol';
import { TEST_DB } from '../setup/test-database';
import { BrowserClient, BrowserSession } from './browser/browser-client';
import { ConsoleApp, signIn, startConsoleApp } from './console-app';

jest.setTimeout(90_000);

/** Sign-in, sign-out and the ends of a session, in headless Chromium. */
describe(`console sign-in on ${TEST_DB}`, () => {
  let browser: BrowserClient;
  let t: ConsoleApp;
  let tree: Tree;
  let session: BrowserSession;

  beforeAll(async () => {
    browser = await BrowserClient.start();
  });
  afterAll(() => browser.close());

  async function boot(env: Record<string, string> = {}): Promise<void> {
    t = await startConsoleApp(env);
    tree = await createTree(t.dataSource);
    session = await browser.session(t.base);
  }

  afterEach(async () => {
    await session.close();
    await t.close();
  });

  it('signs in with the API credentials, by keyboard alone, and shows the overview of the organization', async () => {
    await boot();
    const first = await session.goto('/console');
    expect(first.url).toBe(`${t.base}/console/sign-in`);
    await session.screenshot('sign-in');

    // The login field has the focus; Tab to the password, Enter sends the form.
    expect(await session.evaluate(() => document.activeElement?.id)).toBe('login');
    await session.type('#login', 'Partner');
    await session.press('Tab');
    expect(await session.evaluate(() => document.activeElement?.id)).toBe('password');
    await session.type('#password', tree.password);
    const landed = await session.pressAndWait('Enter');

    expect(landed).toEqual({ status: 200, url: `${t.base}/console` });
    expect(await session.text('h1')).toBe('Overview');
    expect(await session.text('header')).toContain('Signed in as partner');
    expect(await session.text('main')).toContain('Partner Inc.');
    expect(await session.text('#health')).toMatch(/(SQLite|PostgreSQL): answering in \d+ ms/);
    expect(await session.text('#queues')).toContain('Webhook deliveries');
    await session.screenshot('overview');
  });

  it('shows an error for a wrong password and an unknown login alike, and keeps the login typed', async () => {
    await boot();
    const wrong = await signIn(session, 'partner', 'not-the-password');
    expect(wrong.status).toBe(401);
    expect(await session.text('[role="alert"]')).toBe('Wrong login or password.');
    expect(await session.evaluate(() => (document.querySelector('#login') as HTMLInputElement).value)).toBe('partner');
    expect(await session.evaluate(() => document.querySelector('#password')?.getAttribute('aria-invalid'))).toBe('true');
    await session.screenshot('sign-in-error');

    const unknown = await signIn(session, 'nobody', tree.password);
    expect(unknown.status).toBe(401);
    expect(await session.text('[role="alert"]')).toBe('Wrong login or password.');

    const right = await signIn(session, 'partner', tree.password);
    expect(right.url).toBe(`${t.base}/console`);
  });

  it('shares the failure limiter with the APIs: after the budget, the right password is refused too, in the console and the API', async () => {
    await boot({ AUTH_FAILURES_PER_IDENTITY_ADDRESS: '3', AUTH_KNOWN_ADDRESS_SECONDS: '0' });
    for (let i = 0; i < 3; i++) expect((await signIn(session, 'partner', `wrong-${i}`)).status).toBe(401);
    const refused = await signIn(session, 'partner', tree.password);
    expect(refused.status).toBe(429);
    expect(await session.text('[role="alert"]')).toMatch(/^Too many failed authentication attempts for this login from 127\.0\.0\.1; the credentials were not checked\. Retry after \d+ seconds\.$/);
    const api = await request(t.server).get('/api/webhooks').set('X-CyberApp-Auth', cyberAppAuth('partner', tree.password));
    // The API's requests come from supertest's loopback address: the same budget (login and address).
    expect(api.status).toBe(429);
    const metrics = (await request(t.server).get('/metrics').expect(200)).text;
    expect(metrics).toContain('cyberapp_auth_failures_total{reason="invalid_credentials"} 3');
    expect(metrics).toContain('cyberapp_auth_failures_total{reason="rate_limited"} 2');
  });

  it('returns to the sign-in page once the session is idle too long, then back to the page asked for', async () => {
    await boot({ CONSOLE_SESSION_IDLE_SECONDS: '2' });
    await signIn(session, 'partner', tree.password);
    await new Promise((resolve) => setTimeout(resolve, 2500));

    const back = await session.goto('/console/webhooks');
    expect(back.url).toBe(`${t.base}/console/sign-in?next=%2Fconsole%2Fwebhooks&ended=expired`);
    expect(await session.text('[role="alert"]')).toContain('Your session has ended');
    await session.screenshot('session-expired');
    await session.type('#login', 'partner');
    await session.type('#password', tree.password);
    const again = await session.clickAndWait('form.sign-in button[type="submit"]');
    expect(again.url).toBe(`${t.base}/console/webhooks`);
  });

  it('ends an open page at its absolute expiry: the background refresh finds it over and goes to the sign-in page', async () => {
    await boot({ CONSOLE_SESSION_MAX_SECONDS: '3' });
    await signIn(session, 'partner', tree.password);
    expect(await session.url()).toBe(`${t.base}/console`);
    // No navigation by the test: the page's own refresh (every 5 s) gets 401 and reloads into the sign-in page.
    await session.waitFor(() => location.pathname === '/console/sign-in' && document.readyState === 'complete', [], 15_000);
    expect(await session.url()).toBe(`${t.base}/console/sign-in?ended=expired`);
  });

  it('signs out: the sign-in page says so, and the old cookie no longer opens anything', async () => {
    await boot();
    await signIn(session, 'partner', tree.password);
    const out = await session.clickAndWait('header form button');
    expect(out.url).toBe(`${t.base}/console/sign-in?ended=signed-out`);
    expect(await session.text('[role="status"]')).toBe('You are signed out.');
    expect((await session.goto('/console')).url).toBe(`${t.base}/console/sign-in`);
    expect(await t.dataSource.query('SELECT id FROM console_sessions')).toEqual([]);
  });

  it('ends the session when the password changes or the user is deleted', async () => {
    await boot();
    await signIn(session, 'partner', tree.password);
    await t.dataSource.getRepository(User).update({ id: tree.partnerUser.id }, { password: await hash('a-new-password', { memoryCost: 4096, timeCost: 1, parallelism: 1 }) });
    expect((await session.goto('/console/webhooks')).url).toBe(`${t.base}/console/sign-in?next=%2Fconsole%2Fwebhooks&ended=expired`);

    await signIn(session, 'partner', 'a-new-password');
    expect(await session.url()).toBe(`${t.base}/console`);
    await t.dataSource.getRepository(User).delete({ id: tree.partnerUser.id });
    expect(await t.dataSource.query('SELECT id FROM console_sessions')).toEqual([]);
    expect((await session.goto('/console')).url).toBe(`${t.base}/console/sign-in?ended=expired`);
  });
});

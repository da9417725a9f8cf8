import { randomUUID } from 'node:crypto';
import { HookDecision } from '../../src/hooks/hook-decision.entity';
import { HookOperation, HookPhase } from '../../src/hooks/hook-operation';
import { createHook } from '../factories/hooks';
import { createTree, createUser, mapOrganization, Tree } from '../factories/organizations';
import { approve, HookServer, reject, startHookServer } from '../fakes/hook-server';
import { callback } from '../setup/callback-client';
import { TEST_DB } from '../setup/test-database';
import { BrowserClient, BrowserSession } from './browser/browser-client';
import { ConsoleApp, signIn, startConsoleApp } from './console-app';

jest.setTimeout(120_000);

/**
 * The approval-hook pages in headless Chromium: real hook endpoints on 127.0.0.1 approving,
 * vetoing and failing, their decisions appearing in the open log, and a customer's user seeing only
 * its own organization's hooks and decisions, also when it types another's ids into the address bar.
 */
describe(`console approval hooks on ${TEST_DB}`, () => {
  let browser: BrowserClient;
  let t: ConsoleApp;
  let tree: Tree;
  let partner: BrowserSession;
  let customer: BrowserSession;
  let server: HookServer;
  let tenant: string;
  const hooks = { partner: '', customer: '', other: '' };

  beforeAll(async () => {
    browser = await BrowserClient.start();
    server = await startHookServer();
    t = await startConsoleApp({ WEBHOOKS_WORKER_ENABLED: 'false' });
    tree = await createTree(t.dataSource);
    tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
    await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'customer', password: 'customer-password' });
    // The partner's hook is asked about its customers' users; the customer's own hook too; the other partner's never.
    hooks.partner = (await createHook(t.dataSource, { organizationId: tree.partner.id, url: server.url, operations: [HookOperation.UserCreate], phase: HookPhase.Pre })).id;
    hooks.customer = (await createHook(t.dataSource, { organizationId: tree.customers[0].id, url: `${server.url}/customer`, operations: [HookOperation.UserCreate, HookOperation.UserDelete], phase: HookPhase.Pre })).id;
    hooks.other = (await createHook(t.dataSource, { organizationId: tree.other.id, url: `${server.url}/other`, operations: [HookOperation.UserCreate] })).id;
    partner = await browser.session(t.base);
    await signIn(partner, 'partner', tree.password);
    customer = await browser.session(t.base);
    await signIn(customer, 'customer', 'customer-password');
  });

  afterAll(async () => {
    await partner.close();
    await customer.close();
    await browser.close();
    await t.close();
    await server.close();
  });

  /** A user_write callback for the customer's tenant: the pre-hooks are asked first. */
  const createUserThroughPlatform = (login: string) =>
    callback(t, { login: 'partner', password: tree.password }, 'user_write', { login, name: login, email: `${login}@example.com` }, { tenantId: tenant });
  const decisions = () => t.dataSource.getRepository(HookDecision).find({ order: { createdAt: 'DESC', id: 'DESC' } });
  const rows = (s: BrowserSession, selector: string) => s.evaluate((sel: string) => document.querySelectorAll(sel).length, selector);
  const links = (s: BrowserSession, selector: string) =>
    s.evaluate((sel: string) => Array.from(document.querySelectorAll(sel)).map((a) => a.getAttribute('href')), selector);

  it('lists the hook endpoints the user may see, with their operations and state', async () => {
    await partner.goto('/console/hooks');
    expect(new Set(await links(partner, '#hooks tbody a'))).toEqual(new Set([`/console/hooks/${hooks.partner}`, `/console/hooks/${hooks.customer}`]));
    expect(await partner.text('#hooks')).toContain('user.delete');
    expect(await partner.text('#hooks')).toContain('fail-closed');
    expect(await partner.text('#hooks')).not.toContain('/other');
    expect(await partner.evaluate(() => document.querySelector('nav a[aria-current="page"]')?.textContent)).toBe('Approval hooks');
    await partner.screenshot('hooks');
  });

  it('shows decisions appear in the open log as real hooks approve, veto and fail', async () => {
    await partner.goto('/console/hook-decisions');
    expect(await partner.text('#decisions')).toContain('No decisions yet.');

    server.answer((d) => (d.path === '/hook/customer' ? approve('customer-work') : approve('work-42')));
    await createUserThroughPlatform('approved-one').expect(200);
    // The page refreshes itself: both hooks' decisions show up.
    await partner.waitFor(() => document.querySelectorAll('#decisions tbody tr').length === 2, [], 20_000);
    expect(await partner.text('#decisions')).toContain('work-42');
    expect(await partner.text('#decisions')).toContain('approved');

    server.answer((d) => (d.path === '/hook/customer' ? approve() : reject('not on a Friday')));
    await createUserThroughPlatform('vetoed-one').expect(403);
    server.answer((d) => (d.path === '/hook/customer' ? approve() : { status: 503, body: 'hook down' }));
    await createUserThroughPlatform('failed-one').expect(403);
    await partner.waitFor(() => document.querySelectorAll('#decisions tbody tr').length === 6, [], 20_000);
    const text = await partner.text('#decisions');
    expect(text).toContain('vetoed');
    expect(text).toContain('not on a Friday');
    expect(text).toContain('http: vetoed by fail-closed');
    await partner.screenshot('hook-decisions');

    // Filters: the form's choices, as a person picks them.
    await partner.evaluate(() => {
      (document.querySelector('#outcome') as HTMLSelectElement).value = 'vetoed';
    });
    const vetoed = await partner.clickAndWait('form.filter button');
    expect(vetoed.url).toBe(`${t.base}/console/hook-decisions?outcome=vetoed&operation=`);
    expect(await rows(partner, '#decisions tbody tr')).toBe(1);
    await partner.goto('/console/hook-decisions?outcome=error');
    expect(await rows(partner, '#decisions tbody tr')).toBe(1);
    expect(await partner.text('#decisions tbody')).toMatch(/user\.create error http: vetoed by fail-closed/);
    await partner.goto('/console/hook-decisions?outcome=approved&operation=user.create');
    expect(await rows(partner, '#decisions tbody tr')).toBe(4);
    await partner.goto('/console/hook-decisions?operation=user.delete');
    expect(await partner.text('#decisions')).toContain('No decisions match.');
    const bad = await partner.goto('/console/hook-decisions?outcome=maybe');
    expect(bad.status).toBe(400);
  });

  it('pages the decision log by key', async () => {
    const all = await decisions();
    // 50 a page: 50 more, older, decisions make a second page reached by the last id of the first.
    const at = Date.now() - 3_600_000;
    await t.dataSource.getRepository(HookDecision).insert(
      Array.from({ length: 50 }, (_, i) => ({
        ...all[0],
        id: randomUUID(),
        callId: randomUUID(),
        workId: `old-${i}`,
        createdAt: new Date(at + i * 1000),
      })),
    );
    const ordered = await decisions();
    await partner.goto('/console/hook-decisions');
    expect(await rows(partner, '#decisions tbody tr')).toBe(50);
    const older = await partner.clickAndWait('a[rel="next"]');
    expect(older.url).toBe(`${t.base}/console/hook-decisions?before=${ordered[49].id}`);
    expect(await links(partner, 'main tbody a[href^="/console/hook-decisions/"]')).toEqual(ordered.slice(50).map((d) => `/console/hook-decisions/${d.id}`));
    expect(await partner.evaluate(() => document.querySelector('a[rel="next"]'))).toBeNull();
    await t.dataSource.query(`DELETE FROM hook_decisions WHERE work_id LIKE 'old-%'`);
  });

  it("shows a hook's settings and recent decisions, and one decision with what was answered", async () => {
    await partner.goto(`/console/hooks/${hooks.partner}`);
    expect(await partner.text('dl.facts')).toContain(server.url);
    expect(await rows(partner, '#recent-decisions tbody tr')).toBe(3);
    await partner.screenshot('hook');

    const [vetoed] = (await decisions()).filter((d) => d.reason === 'not on a Friday');
    await partner.clickAndWait(`#recent-decisions a[href="/console/hook-decisions/${vetoed.id}"]`);
    expect(await partner.text('h1')).toBe('Decision on user.create');
    const answer = await partner.text('#answer');
    expect(answer).toContain('HTTP 200');
    expect(answer).toMatch(/approved\s*false/);
    expect(answer).toContain('not on a Friday');
    expect(await partner.text('#decision')).toContain(`${vetoed.latencyMs} ms`);
    expect(await partner.text('#sent')).toContain('The request body is not stored');
    await partner.screenshot('hook-decision');
  });

  it("lets a customer's user see only its own organization's hooks and decisions, also by editing URLs", async () => {
    await customer.goto('/console/hooks');
    expect(await links(customer, '#hooks tbody a')).toEqual([`/console/hooks/${hooks.customer}`]);
    await customer.goto('/console/hook-decisions');
    const own = (await decisions()).filter((d) => d.hookId === hooks.customer);
    expect(own).toHaveLength(3);
    expect(await links(customer, '#decisions tbody a[href^="/console/hook-decisions/"]')).toEqual(own.map((d) => `/console/hook-decisions/${d.id}`));
    expect(await customer.text('#decisions')).not.toContain('not on a Friday');

    const partnerDecision = (await decisions()).find((d) => d.hookId === hooks.partner);
    if (!partnerDecision) throw new Error('no decision of the partner hook');
    for (const path of [`/console/hooks/${hooks.partner}`, `/console/hooks/${hooks.other}`, `/console/hook-decisions/${partnerDecision.id}`, `/console/hook-decisions/${randomUUID()}`]) {
      const res = await customer.goto(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await customer.text('[role="alert"]')).toMatch(/not found\. It does not exist, or it is not in your organization or below it\.$/);
    }
    // The partner's hook as a filter shows nothing of it; the partner's decision as a cursor is refused.
    await customer.goto(`/console/hook-decisions?hook_id=${hooks.partner}`);
    expect(await customer.text('#decisions')).toContain('No decisions yet.');
    const cursor = await customer.goto(`/console/hook-decisions?before=${partnerDecision.id}`);
    expect(cursor.status).toBe(400);
    expect(await customer.text('[role="alert"]')).toBe('Invalid request: query.before must be the id of a decision you can see.');
    await customer.goto('/console/hook-decisions');
    await customer.screenshot('hook-decisions-customer');
  });
});

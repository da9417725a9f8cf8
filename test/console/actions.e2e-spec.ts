import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { In } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { ActionHandler } from '../../src/actions/action-handler.entity';
import { Action, ActionState } from '../../src/actions/action.entity';
import { ActionWsClient } from '../fakes/action-ws-client';
import { createHandlerSetup, HandlerSetup } from '../factories/actions';
import { createTree, createUser, Tree } from '../factories/organizations';
import { eventually } from '../setup/eventually';
import { cyberAppAuth } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';
import { TEST_DB } from '../setup/test-database';
import { BrowserClient, BrowserSession } from './browser/browser-client';
import { ConsoleApp, signIn, startConsoleApp } from './console-app';

jest.setTimeout(120_000);

/** Actions of a handler inserted directly, one a millisecond from `start` on, oldest first. */
async function insertActions(t: ConsoleApp, setup: HandlerSetup, n: number, start: Date, state: ActionState, capability = 'ExecuteCommand'): Promise<Action[]> {
  const rows = Array.from({ length: n }, (_, i) => {
    const at = new Date(start.getTime() + i);
    return Object.assign(new Action(), {
      id: randomUUID(),
      organizationId: setup.handler.organizationId,
      handlerId: setup.handler.id,
      capability,
      parameters: { Command: `echo ${i}` },
      timeoutMs: 60_000,
      state,
      sendCount: 1,
      result: state === ActionState.Completed ? JSON.stringify({ code: 200, message: `done ${i}` }) : null,
      resultCode: state === ActionState.Completed ? 200 : null,
      submittedBy: 'factory',
      submittedAt: at,
      sentAt: at,
      ackedAt: null,
      completedAt: state === ActionState.Completed || state === ActionState.Expired ? at : null,
      expiresAt: new Date(at.getTime() + 60_000),
    });
  });
  for (const row of rows) await t.dataSource.manager.insert(Action, { ...row, parameters: { ...row.parameters } } as QueryDeepPartialEntity<Action>);
  return rows;
}

/**
 * The action pages in headless Chromium, with a real WebSocket handler peer on the action channel:
 * the handler connected and last seen, an action submitted, acknowledged and answered with its
 * result shown as it happens; key paging and filters; a customer's user confined to its own rows.
 */
describe(`console action pages on ${TEST_DB}`, () => {
  let browser: BrowserClient;
  let t: ConsoleApp;
  let tree: Tree;
  let port: number;
  let partner: BrowserSession;
  let customer: BrowserSession;
  let setup: HandlerSetup;
  let customerSetup: HandlerSetup;
  let otherSetup: HandlerSetup;
  let peer: ActionWsClient | null = null;

  const handlerRow = (id: string) => t.dataSource.getRepository(ActionHandler).findOneByOrFail({ id });

  beforeAll(async () => {
    browser = await BrowserClient.start();
    t = await startConsoleApp({ ACTIONS_POLL_MS: '100', ACTIONS_PING_INTERVAL_MS: '1000' });
    port = Number(new URL(t.base).port);
    tree = await createTree(t.dataSource);
    await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'customer', password: 'customer-password' });
    setup = await createHandlerSetup(t.dataSource, tree.partner.id);
    customerSetup = await createHandlerSetup(t.dataSource, tree.customers[0].id);
    otherSetup = await createHandlerSetup(t.dataSource, tree.other.id);
    partner = await browser.session(t.base);
    await signIn(partner, 'partner', tree.password);
    customer = await browser.session(t.base);
    await signIn(customer, 'customer', 'customer-password');
  });

  afterAll(async () => {
    await peer?.close();
    await partner?.close();
    await customer?.close();
    await browser?.close();
    await t?.close();
  });

  const handlerCells = (s: BrowserSession, id: string) =>
    s.evaluate((sel: string) => Array.from(document.querySelectorAll(`${sel} td`)).map((td) => td.textContent?.trim() ?? ''), `#handler-${id}`);

  it('shows a handler connect while the page is open, when it was last seen, and that it left', async () => {
    await partner.goto('/console/action-handlers');
    expect((await handlerCells(partner, setup.handler.id)).slice(0, 3)).toEqual([setup.handler.name, 'not connected', '—']);
    expect(await partner.text('#handlers')).toContain(customerSetup.handler.name);
    expect(await partner.text('#handlers')).not.toContain(otherSetup.handler.name);

    peer = await ActionWsClient.connect(port, setup.token);
    await partner.waitFor((sel: string) => document.querySelector(`${sel} .badge-connected`) !== null, [`#handler-${setup.handler.id}`], 15_000);
    const connectedAt = (await handlerRow(setup.handler.id)).lastSeenAt;
    expect(connectedAt).not.toBeNull();
    expect((await handlerCells(partner, setup.handler.id))[2]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    await partner.screenshot('action-handlers');

    // While connected, each ping round (1 s here) that found it alive moves last_seen_at on.
    await eventually(() => handlerRow(setup.handler.id), (h) => h.lastSeenAt !== null && h.lastSeenAt.getTime() > (connectedAt as Date).getTime() + 1500, 10_000);

    await peer.close();
    peer = null;
    await partner.waitFor((sel: string) => document.querySelector(`${sel} .badge-not_connected`) !== null, [`#handler-${setup.handler.id}`], 15_000);
    expect((await handlerCells(partner, setup.handler.id))[2]).not.toBe('—');
  });

  it('shows an action submitted to the connected handler, acknowledged, then its result, without a reload', async () => {
    peer = await ActionWsClient.connect(port, setup.token);
    const submitted = await request(t.server)
      .post('/api/actions')
      .set('X-CyberApp-Auth', cyberAppAuth('partner', tree.password))
      .send({ capability: 'ExecuteCommand', parameters: { Command: 'uptime' }, timeout_ms: 60_000 })
      .expect(201);
    const id = submitted.body.id as string;
    await peer.submitFor(id);
    peer.ack(id);
    await eventually(() => t.dataSource.getRepository(Action).findOneByOrFail({ id }), (a) => a.state === ActionState.Acknowledged);

    await partner.goto('/console/actions');
    expect(await partner.text(`#ledger tbody tr:has(a[href="/console/actions/${id}"])`)).toMatch(/ExecuteCommand.*acknowledged/);
    await partner.screenshot('actions');
    await partner.clickAndWait(`#ledger a[href="/console/actions/${id}"]`);
    expect(await partner.text('#summary')).toContain('Stateacknowledged');
    expect(await partner.text('#summary')).toContain(`Handler${setup.handler.name} connected`);
    expect(await partner.text('#summary pre.parameters')).toBe('{ "Command": "uptime" }');
    expect(await partner.text('#result')).toContain('No result yet');

    peer.result(id, { code: 200, message: 'Action successful', data: ' 10:00:00 up 3 days' });
    await partner.waitFor(() => document.querySelector('#summary .badge-completed') !== null, [], 15_000);
    expect(await partner.text('#result')).toContain('Code200');
    const shown = await partner.evaluate(() => document.querySelector('#result pre.result')?.textContent ?? '');
    expect(JSON.parse(shown)).toEqual({ code: 200, message: 'Action successful', data: ' 10:00:00 up 3 days' });
    await partner.screenshot('action');
    await peer.close();
    peer = null;
  });

  it('pages the ledger by key and filters it by state, capability and handler', async () => {
    const base = Date.now() - 3_600_000;
    const old = await insertActions(t, setup, 55, new Date(base), ActionState.Completed);
    const expired = await insertActions(t, setup, 2, new Date(Date.now() - 7_200_000), ActionState.Expired, 'Reboot');
    // The customer's actions fall between the partner's: the ledger merges the organizations of the subtree.
    await insertActions(t, customerSetup, 5, new Date(base + 20), ActionState.Completed);
    const all = await t.dataSource.getRepository(Action).find({ where: { organizationId: In([tree.partner.id, tree.customers[0].id]) }, order: { submittedAt: 'DESC', id: 'DESC' } });
    expect(all.length).toBeGreaterThan(60);
    const rows = () => partner.evaluate(() => Array.from(document.querySelectorAll('#ledger tbody a[href^="/console/actions/"], section[aria-label="Actions"] tbody a[href^="/console/actions/"]')).map((a) => a.getAttribute('href')));

    await partner.goto('/console/actions');
    expect(await rows()).toEqual(all.slice(0, 50).map((a) => `/console/actions/${a.id}`));
    const older = await partner.clickAndWait('a[rel="next"]');
    expect(older.url).toBe(`${t.base}/console/actions?before=${all[49].id}`);
    expect(await rows()).toEqual(all.slice(50).map((a) => `/console/actions/${a.id}`));
    expect(await partner.evaluate(() => document.querySelector('a[rel="next"]'))).toBeNull();

    await partner.goto('/console/actions');
    await partner.evaluate(() => ((document.querySelector('#state') as HTMLSelectElement).value = 'expired'));
    await partner.type('#capability', 'Reboot');
    const filtered = await partner.clickAndWait('form.filter button');
    expect(filtered.url).toBe(`${t.base}/console/actions?state=expired&capability=Reboot`);
    expect(new Set(await rows())).toEqual(new Set(expired.map((a) => `/console/actions/${a.id}`)));
    await partner.goto('/console/actions?capability=Nothing');
    expect(await partner.text('#ledger')).toContain('No actions match.');
    await partner.goto(`/console/actions?handler=${customerSetup.handler.id}`);
    expect(await rows()).toEqual(all.filter((a) => a.handlerId === customerSetup.handler.id).map((a) => `/console/actions/${a.id}`));
    expect(await partner.text('main')).toContain(`Only the actions of handler ${customerSetup.handler.name}.`);
    expect(old).toHaveLength(55);

    const bad = await partner.goto('/console/actions?state=lost');
    expect(bad.status).toBe(400);
    const badCursor = await partner.goto('/console/actions?before=nope');
    expect(badCursor.status).toBe(400);
    expect(await partner.text('[role="alert"]')).toBe('Invalid request: before must be the id of an action you can see.');
  });

  it('shows a customer’s user only its organization’s handlers and actions, and 404 for another’s, also by edited URLs and forms', async () => {
    const [own] = await insertActions(t, customerSetup, 1, new Date(), ActionState.Completed);
    const [foreign] = await insertActions(t, otherSetup, 1, new Date(), ActionState.Completed);
    const partnerAction = (await t.dataSource.getRepository(Action).find({ where: { organizationId: tree.partner.id }, take: 1 }))[0];
    const before = await snapshot(t.dataSource);

    await customer.goto('/console/action-handlers');
    expect(await customer.evaluate(() => Array.from(document.querySelectorAll('#handlers tbody tr')).map((tr) => tr.id))).toEqual([`handler-${customerSetup.handler.id}`]);
    await customer.goto('/console/actions');
    const customerActions = await t.dataSource.getRepository(Action).find({ where: { organizationId: tree.customers[0].id }, order: { submittedAt: 'DESC', id: 'DESC' } });
    expect(customerActions.map((a) => a.id)).toContain(own.id);
    expect(await customer.evaluate(() => Array.from(document.querySelectorAll('#ledger tbody a')).map((a) => a.getAttribute('href')))).toEqual(customerActions.map((a) => `/console/actions/${a.id}`));
    await customer.screenshot('actions-customer');
    for (const path of [`/console/actions/${partnerAction.id}`, `/console/actions/${foreign.id}`, '/console/actions/00000000-0000-4000-8000-000000000000']) {
      const res = await customer.goto(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await customer.text('[role="alert"]')).toMatch(/^Action not found\. It does not exist, or it is not in your organization or below it\.$/);
    }
    const cursor = await customer.goto(`/console/actions?before=${partnerAction.id}`);
    expect(cursor.status).toBe(400);

    // The filter form edited to name the partner's handler: nothing of the partner's shows.
    await customer.goto('/console/actions');
    await customer.evaluate((h: string) => {
      const input = document.createElement('input');
      Object.assign(input, { type: 'hidden', name: 'handler', value: h });
      document.querySelector('form.filter')?.append(input);
    }, setup.handler.id);
    const edited = await customer.clickAndWait('form.filter button');
    expect(edited.status).toBe(200);
    expect(await customer.text('#ledger')).toContain('No actions match.');

    await customer.goto(`/console/actions/${own.id}`);
    expect(await customer.text('#result')).toContain('done 0');
    expect(await snapshot(t.dataSource)).toEqual(before);
  });
});

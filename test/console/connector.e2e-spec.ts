import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectorItem, ConnectorItemState } from '../../src/connector/connector-item.entity';
import { ConnectorRun } from '../../src/connector/connector-run.entity';
import { ConnectorRunner } from '../../src/connector/connector-runner.service';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { createItems } from '../factories/connector-items';
import { createOrganization, createUser, mapOrganization } from '../factories/organizations';
import { FakeAcronisApi, replies, startFakeAcronisApi } from '../fakes/fake-acronis-api';
import { connectorEnv } from '../setup/connector-env';
import { snapshot } from '../setup/snapshot';
import { TEST_DB } from '../setup/test-database';
import { BrowserClient, BrowserSession } from './browser/browser-client';
import { ConsoleApp, signIn, startConsoleApp } from './console-app';

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

/**
 * The connector pages in headless Chromium against the fake Acronis API: items appearing while
 * the page is open, a refused push leaving a failed item with its error, "send now" making it go,
 * the runs (the vendor's users only), and a customer's user confined to its own items, also when
 * it edits URLs and forms, with cross-site forms refused.
 */
describe(`console connector on ${TEST_DB}`, () => {
  let browser: BrowserClient;
  let api: FakeAcronisApi;
  let t: ConsoleApp;
  let vendor: BrowserSession;
  let customer: BrowserSession;
  const orgs = { vendor: '', partner: '', customer: '', other: '' };

  beforeAll(async () => {
    browser = await BrowserClient.start();
    api = await startFakeAcronisApi();
    t = await startConsoleApp(connectorEnv(api, { CONNECTOR_MAX_ATTEMPTS: '1' }));
    // One tree: the vendor (root) → partner → customer, and the vendor → another partner.
    const root = await createOrganization(t.dataSource, { name: 'Vendor' });
    const partner = await createOrganization(t.dataSource, { parentId: root.id, name: 'Partner' });
    const cust = await createOrganization(t.dataSource, { parentId: partner.id, kind: OrganizationKind.Customer, name: 'Customer' });
    const other = await createOrganization(t.dataSource, { parentId: root.id, name: 'Other' });
    Object.assign(orgs, { vendor: root.id, partner: partner.id, customer: cust.id, other: other.id });
    for (const id of [cust.id, other.id]) await mapOrganization(t.dataSource, id);
    await createUser(t.dataSource, { organizationId: root.id, login: 'vendor', password: 'vendor-password' });
    await createUser(t.dataSource, { organizationId: cust.id, login: 'customer', password: 'customer-password' });
    vendor = await browser.session(t.base);
    await signIn(vendor, 'vendor', 'vendor-password');
    customer = await browser.session(t.base);
    await signIn(customer, 'customer', 'customer-password');
  });

  afterAll(async () => {
    await vendor.close();
    await customer.close();
    await browser.close();
    await t.close();
    await api.close();
  });

  const itemOf = (id: string) => t.dataSource.getRepository(ConnectorItem).findOneByOrFail({ id });
  const links = (s: BrowserSession, selector: string) =>
    s.evaluate((sel: string) => Array.from(document.querySelectorAll(sel)).map((a) => a.getAttribute('href')), selector);
  const run = () => t.app.get(ConnectorRunner).runOnce('cli');
  let failedId = '';
  let otherId = '';

  it('shows items appear while the page is open, and a refused push as a failed item with its error', async () => {
    await vendor.goto('/console/connector');
    expect(await vendor.text('#item-list')).toContain('No connector items yet.');
    expect(await vendor.evaluate(() => document.querySelector('nav a[aria-current="page"]')?.textContent)).toBe('Connector');

    const [mine, other] = await createItems(t.dataSource, [{ organizationId: orgs.customer }, { organizationId: orgs.other }]);
    failedId = mine.id;
    otherId = other.id;
    await vendor.waitFor(() => document.querySelectorAll('#item-list tbody tr').length === 2, [], 20_000);
    expect(await vendor.text('#item-counts')).toContain('2 pending');

    // The platform refuses the customer's alert (400: not retried): it fails with the platform's answer.
    api.enqueue('alerts', replies.json(400, { error: 'bad_request', message: 'alert type unknown to the fake' }), 1);
    await run();
    const failed = await itemOf(mine.id);
    expect(failed.state).toBe(ConnectorItemState.Failed);
    await vendor.waitFor(() => document.querySelector('#item-list .badge-failed') !== null, [], 20_000);
    expect(await vendor.text('#item-counts')).toBe('Items by state 0 pending0 sendingsent1 failedcancelled');
    expect(await vendor.text('#item-list')).toContain('HTTP 400');
    expect(await vendor.text('#item-list')).toContain(failed.lastError?.slice(0, 40) ?? 'no error');
    await vendor.screenshot('connector');

    await vendor.goto('/console/connector?state=failed');
    expect(await links(vendor, '#item-list tbody a')).toEqual([`/console/connector/items/${mine.id}`]);
    expect((await vendor.goto('/console/connector?state=maybe')).status).toBe(400);
  });

  it('sends a failed item now from its page and shows it go without a reload', async () => {
    await vendor.goto(`/console/connector/items/${failedId}`);
    expect(await vendor.text('#item')).toContain('HTTP 400');
    expect(await vendor.text('#payload')).toContain('Malware Quarantined');
    await vendor.screenshot('connector-item-failed');

    const sent = await vendor.clickAndWait('main .actions form button');
    expect(sent.url).toBe(`${t.base}/console/connector/items/${failedId}?notice=sent-now`);
    expect(await vendor.text('[role="status"]')).toContain('The item is due now');
    // No run by hand: the button asked for one, and the open page shows the outcome.
    await vendor.waitFor(() => document.querySelector('#item .badge-sent') !== null, [], 20_000);
    expect(await itemOf(failedId)).toMatchObject({ state: ConnectorItemState.Sent, attempts: 2, lastStatus: 200 });
    expect(api.alerts).toHaveLength(3);
    await vendor.screenshot('connector-item-sent');
    // Sent: no button any more.
    await vendor.goto(`/console/connector/items/${failedId}`);
    expect(await vendor.evaluate(() => document.querySelector('main .actions form'))).toBeNull();
  });

  it('lists the runs with their counts and duration to the vendor’s users', async () => {
    const runs = await t.dataSource.getRepository(ConnectorRun).find({ order: { startedAt: 'DESC' } });
    expect(runs).toHaveLength(2);
    await vendor.goto('/console/connector');
    await vendor.clickAndWait('a[href="/console/connector/runs"]');
    expect(await vendor.evaluate(() => document.querySelectorAll('#runs tbody tr').length)).toBe(2);
    const first = await vendor.evaluate(() => Array.from(document.querySelectorAll('#runs tbody tr:first-child td')).map((td) => td.textContent?.trim()));
    expect(first.slice(2, 7)).toEqual(['completed', `${(runs[0].finishedAt?.getTime() ?? 0) - runs[0].startedAt.getTime()} ms`, '1', '0', '0']);
    await vendor.screenshot('connector-runs');
  });

  it("confines a customer's user to its own items, also by editing URLs and forms, and changes nothing", async () => {
    await customer.goto('/console/connector');
    expect(await links(customer, '#item-list tbody a')).toEqual([`/console/connector/items/${failedId}`]);
    expect(await customer.text('#item-counts')).toBe('Items by state 0 pending0 sendingsent0 failedcancelled');
    expect(await customer.evaluate(() => document.querySelector('a[href="/console/connector/runs"]'))).toBeNull();

    // Another organization's item, made failed: by URL, and by a form retargeted at it.
    await t.dataSource.getRepository(ConnectorItem).update({ id: otherId }, { state: ConnectorItemState.Failed });
    const [pending] = await createItems(t.dataSource, [{ organizationId: orgs.customer }]);
    await t.dataSource.getRepository(ConnectorItem).update({ id: pending.id }, { nextAttemptAt: new Date(Date.now() + 3_600_000) });
    const before = await snapshot(t.dataSource);
    for (const path of [`/console/connector/items/${otherId}`, `/console/connector/items/${randomUUID()}`, '/console/connector/runs']) {
      const res = await customer.goto(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await customer.text('[role="alert"]')).toMatch(/not found\. It does not exist, or it is not in your organization or below it\.$/);
    }
    await customer.screenshot('connector-not-found');
    await customer.goto(`/console/connector/items/${pending.id}`);
    await customer.evaluate((action: string) => document.querySelector('main .actions form')?.setAttribute('action', action), `/console/connector/items/${otherId}/send-now`);
    expect((await customer.clickAndWait('main .actions form button')).status).toBe(404);
    const cursor = await customer.goto(`/console/connector?before=${otherId}`);
    expect(cursor.status).toBe(400);
    expect(await snapshot(t.dataSource)).toEqual(before);

    // A page of another origin posting "send now" for the customer's own item: refused, nothing done.
    const attacker = await startAttacker(`${t.base}/console/connector/items/${pending.id}/send-now`);
    try {
      await customer.goto(`http://127.0.0.1:${attacker.port}/`);
      const landed = await customer.clickAndWait('#win');
      expect(landed).toEqual({ status: 403, url: `${t.base}/console/connector/items/${pending.id}/send-now` });
      expect(await snapshot(t.dataSource)).toEqual(before);
    } finally {
      await attacker.close();
    }

    // The customer's own pending item goes at once from the list's button.
    await customer.goto('/console/connector?state=pending');
    const sent = await customer.clickAndWait(`form[action="/console/connector/items/${pending.id}/send-now"] button`);
    expect(sent.url).toBe(`${t.base}/console/connector/items/${pending.id}?notice=sent-now`);
    await customer.waitFor(() => document.querySelector('#item .badge-sent') !== null, [], 20_000);
  });
});

import request from 'supertest';
import { v7 } from 'uuid';
import { AuditKind, AuditOutcome } from '../../src/audit/audit-record.entity';
import { AuditService } from '../../src/audit/audit.service';
import { TransactionRunner } from '../../src/database/transaction-runner.service';
import { WebhookScope } from '../../src/webhooks/webhook-subscription.entity';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { createTree, createUser, mapOrganization, Tree } from '../factories/organizations';
import { createSubscription } from '../factories/webhooks';
import { callback } from '../setup/callback-client';
import { eventually } from '../setup/eventually';
import { cyberAppAuth } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';
import { TEST_DB } from '../setup/test-database';
import { BrowserClient, BrowserSession } from './browser/browser-client';
import { ConsoleApp, signIn, startConsoleApp } from './console-app';

jest.setTimeout(120_000);

type Json = Record<string, unknown>;

/** The Activity pages (the audit trail) in a real browser: list, filters, search, paging, a record's chain, and scoping. */
describe(`console activity on ${TEST_DB}`, () => {
  let browser: BrowserClient;
  let t: ConsoleApp;
  let tree: Tree;
  let receiver: WebhookReceiver;
  let partner: BrowserSession;
  let customer: BrowserSession;
  let writeRequestId: string;
  let customerRecordId: string;
  let otherRecordId: string;
  let eventRecordId: string;

  const rows = (): Promise<Json[]> => t.dataSource.query('SELECT * FROM audit_records ORDER BY id');
  const recordLinks = (s: BrowserSession) =>
    s.evaluate(() => Array.from(document.querySelectorAll('#records tbody a')).map((a) => a.getAttribute('href') ?? ''));
  const apiRecords = async (auth: string, query: string): Promise<Json[]> =>
    ((await request(t.server).get(`/api/audit?${query}`).set('X-CyberApp-Auth', auth).expect(200)).body as { items: Json[] }).items;

  beforeAll(async () => {
    browser = await BrowserClient.start();
    t = await startConsoleApp();
    tree = await createTree(t.dataSource);
    await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'customer', password: 'customer-password' });
    const tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
    receiver = await startWebhookReceiver({ secret: 'activity-secret' });
    receiver.setBehaviour((_d, index) => (index === 0 ? { status: 503, body: 'busy' } : { status: 200, body: 'ok' }));
    await createSubscription(t.dataSource, { organizationId: tree.partner.id, payloadUrl: receiver.url, secret: 'activity-secret', scope: WebhookScope.Domain, name: 'partner hook' });
    const written = await callback(t, { login: 'partner', password: tree.password }, 'user_write', { login: 'seen.user', name: 'Seen User', email: 'seen@example.test' }, { tenantId: tenant }).expect(200);
    writeRequestId = written.body.request_id as string;
    await receiver.waitFor(2);
    const mine = await callback(t, { login: 'customer', password: 'customer-password' }, 'users_read', {}, { tenantId: tenant }).expect(200);
    const theirs = await callback(t, { login: 'other', password: 'other-password' }, 'users_read', {}, { tenantId: tenant });
    expect(theirs.status).toBeGreaterThanOrEqual(400);
    // 60 older records of the partner's, to page through.
    const start = Date.now() - 3_600_000;
    await t.app.get(TransactionRunner).run((em) =>
      t.app.get(AuditService).record(
        em,
        Array.from({ length: 60 }, (_, i) => ({
          id: v7({ msecs: start + i * 1000 }),
          at: new Date(start + i * 1000),
          kind: AuditKind.ConnectorPush,
          name: `alert ${i}`,
          outcome: i % 10 === 0 ? AuditOutcome.Failed : AuditOutcome.Ok,
          organizationId: tree.partner.id,
        })),
      ),
    );
    const all = await eventually(rows, (r) => r.filter((x) => x.kind === 'delivery.attempt').length === 2 && r.some((x) => x.request_id === theirs.body.request_id));
    customerRecordId = all.find((r) => r.request_id === mine.body.request_id)?.id as string;
    otherRecordId = all.find((r) => r.request_id === theirs.body.request_id)?.id as string;
    eventRecordId = all.find((r) => r.kind === 'event')?.id as string;
    partner = await browser.session(t.base);
    await signIn(partner, 'partner', tree.password);
    customer = await browser.session(t.base);
    await signIn(customer, 'customer', 'customer-password');
  });

  afterAll(async () => {
    await partner?.close();
    await customer?.close();
    await browser?.close();
    await receiver?.close();
    await t?.close();
  });

  it('lists the records newest first, with the Activity section current', async () => {
    const nav = await partner.goto('/console/activity');
    expect(nav.status).toBe(200);
    expect(await partner.text('nav [aria-current="page"]')).toBe('Activity');
    const text = await partner.text('#records');
    expect(text).toContain('Delivery attempt');
    expect(text).toContain('user.created');
    expect(text).toContain('partner');
    const links = await recordLinks(partner);
    expect(links).toHaveLength(50);
    expect(links).not.toContain(`/console/activity/${otherRecordId}`);
    await partner.screenshot('activity');
  });

  it('filters by kind and outcome with the form, and pages by key', async () => {
    await partner.goto('/console/activity');
    await partner.setValue('#kind', 'connector.push');
    await partner.setValue('#outcome', 'failed');
    const nav = await partner.clickAndWait('form.filters button[type="submit"]');
    expect(nav.url).toContain('kind=connector.push');
    expect(await recordLinks(partner)).toHaveLength(6);
    expect(await partner.text('#records')).not.toContain('Callback');

    await partner.goto('/console/activity?kind=connector.push');
    expect(await recordLinks(partner)).toHaveLength(50);
    const older = await partner.clickAndWait('nav.pager a[rel="next"]');
    expect(older.url).toMatch(/before=[0-9a-f-]{36}/);
    expect(older.url).toContain('kind=connector.push');
    expect(await recordLinks(partner)).toHaveLength(10);
    expect(await partner.text('#records')).toContain('alert 0');
    await partner.screenshot('activity-older');

    await partner.goto('/console/activity');
    await partner.setValue('#from', new Date(Date.now() + 3_600_000).toISOString().slice(0, 19));
    await partner.clickAndWait('form.filters button[type="submit"]');
    expect(await partner.text('#records')).toContain('No record matches.');
  });

  it("searches by request id from the keyboard and opens the callback's chain down to the delivery attempts", async () => {
    await partner.goto('/console/activity');
    await partner.type('#q', writeRequestId);
    await partner.pressAndWait('Enter');
    const links = await recordLinks(partner);
    expect(links).toHaveLength(1);
    const nav = await partner.clickAndWait('#records tbody a');
    expect(nav.status).toBe(200);
    expect(await partner.text('#record')).toContain(writeRequestId);
    const caused = await partner.text('#caused');
    expect(caused).toContain('Event: user.created');
    expect(caused).toContain('Delivery: user.created');
    expect(caused.match(/Delivery attempt/g)).toHaveLength(2);
    expect(caused).toContain('503');
    await partner.screenshot('activity-record');
    // An attempt's record links to its delivery's page, and the chain goes back up to the callback.
    const attempt = await partner.evaluate(() => Array.from(document.querySelectorAll('#caused a')).find((a) => a.textContent?.startsWith('Delivery attempt'))?.getAttribute('href'));
    await partner.goto(attempt as string);
    expect(await partner.text('#caused-by')).toContain('user_write');
    const delivery = await partner.clickAndWait('#record a[href^="/console/deliveries/"]');
    expect(delivery.status).toBe(200);
    expect(await partner.text('h1')).toBe('Delivery of user.created');
  });

  it("shows a customer's user its own records only, also when it edits the URL", async () => {
    const before = { data: await snapshot(t.dataSource), audit: await rows() };
    await customer.goto('/console/activity');
    // Its own callback, and the event about its organization (a user created in it); not the partner's callback, deliveries or attempts.
    expect((await recordLinks(customer)).sort()).toEqual([`/console/activity/${customerRecordId}`, `/console/activity/${eventRecordId}`].sort());
    await customer.screenshot('activity-customer');
    expect((await customer.goto(`/console/activity/${customerRecordId}`)).status).toBe(200);
    // The event's chain shows nothing of the partner's: neither its callback above nor its deliveries below.
    expect((await customer.goto(`/console/activity/${eventRecordId}`)).status).toBe(200);
    expect(await customer.text('#caused-by')).toContain('Nothing recorded caused it');
    expect(await customer.text('#caused')).toContain('Nothing recorded yet.');
    const partnerRecordId = (await apiRecords(cyberAppAuth('partner', tree.password), `q=${writeRequestId}`))[0].id as string;
    for (const path of [
      `/console/activity/${partnerRecordId}`,
      `/console/activity/${otherRecordId}`,
      `/console/activity?organization_id=${tree.partner.id}`,
      `/console/activity?organization_id=${tree.other.id}`,
    ]) {
      const nav = await customer.goto(path);
      expect(nav.status).toBe(404);
      expect(await customer.text('main')).not.toContain(writeRequestId);
    }
    await customer.goto(`/console/activity?q=${writeRequestId}`);
    expect(await customer.text('#records')).toContain('No record matches.');
    const bad = await customer.goto('/console/activity?kind=nonsense');
    expect(bad.status).toBe(400);
    expect({ data: await snapshot(t.dataSource), audit: await rows() }).toEqual(before);
  });
});

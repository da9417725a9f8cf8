import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { WebhookSubscription } from '../../src/webhooks/webhook-subscription.entity';
import { createTree, createUser, Tree } from '../factories/organizations';
import { createAttempt, createDelivery, createSubscription } from '../factories/webhooks';
import { snapshot } from '../setup/snapshot';
import { TEST_DB } from '../setup/test-database';
import { BrowserClient, BrowserSession } from './browser/browser-client';
import { ConsoleApp, signIn, startConsoleApp } from './console-app';

jest.setTimeout(120_000);

/**
 * What a customer's user sees and can do in the console: its own organization's rows only, as
 * through the API, also when it edits URLs and form fields by hand (the browser's devtools).
 */
describe(`console organization scoping on ${TEST_DB}`, () => {
  let browser: BrowserClient;
  let t: ConsoleApp;
  let tree: Tree;
  let customer: BrowserSession;
  let partner: BrowserSession;
  const subs: Record<'partner' | 'customer' | 'other', WebhookSubscription> = {} as never;
  const failed: Record<'partner' | 'customer' | 'other', WebhookDelivery> = {} as never;

  beforeAll(async () => {
    browser = await BrowserClient.start();
    t = await startConsoleApp({ WEBHOOKS_WORKER_ENABLED: 'false' });
    tree = await createTree(t.dataSource);
    await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'customer', password: 'customer-password' });
    const owners = { partner: tree.partner.id, customer: tree.customers[0].id, other: tree.other.id };
    for (const who of ['partner', 'customer', 'other'] as const) {
      subs[who] = await createSubscription(t.dataSource, { organizationId: owners[who], name: `${who} hook` });
      failed[who] = await createDelivery(t.dataSource, { subscriptionId: subs[who].id, state: DeliveryState.Failed, organizationId: owners[who], eventType: `${who}.event` });
      await createAttempt(t.dataSource, { deliveryId: failed[who].id, success: false });
    }
    customer = await browser.session(t.base);
    await signIn(customer, 'customer', 'customer-password');
    partner = await browser.session(t.base);
    await signIn(partner, 'partner', tree.password);
  });

  afterAll(async () => {
    await customer.close();
    await partner.close();
    await browser.close();
    await t.close();
  });

  const links = (s: BrowserSession, scope: string) =>
    s.evaluate((sel: string) => Array.from(document.querySelectorAll(sel)).map((a) => a.getAttribute('href')), `${scope} a[href^="/console/"]`);

  it('lists only the rows of the user organization and below, on every page', async () => {
    await customer.goto('/console/webhooks');
    expect(await links(customer, '#subscriptions')).toEqual([`/console/webhooks/${subs.customer.id}`]);
    await customer.goto('/console/dead-letters');
    expect(await links(customer, '#dead-letters tbody')).toEqual([`/console/deliveries/${failed.customer.id}`, `/console/webhooks/${subs.customer.id}`]);
    await customer.goto('/console');
    expect(await customer.text('#queues')).toContain('1 failed, not replayed');
    expect(await links(customer, '#failures')).toEqual([`/console/deliveries/${failed.customer.id}`]);

    // The partner sees its customer's rows too, never the other partner's.
    await partner.goto('/console/webhooks');
    expect(new Set(await links(partner, '#subscriptions'))).toEqual(new Set([`/console/webhooks/${subs.partner.id}`, `/console/webhooks/${subs.customer.id}`]));
    await partner.goto('/console');
    expect(await partner.text('#queues')).toContain('2 failed, not replayed');
  });

  it('answers 404 for another organization’s subscription and delivery typed into the address bar, as for unknown ones', async () => {
    for (const path of [
      `/console/webhooks/${subs.partner.id}`,
      `/console/webhooks/${subs.other.id}`,
      `/console/deliveries/${failed.partner.id}`,
      `/console/webhooks/${subs.partner.id}/replay-failed?since=2020-01-01T00:00`,
      '/console/deliveries/00000000-0000-4000-8000-000000000000',
    ]) {
      const res = await customer.goto(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await customer.text('[role="alert"]')).toMatch(/not found\. It does not exist, or it is not in your organization or below it\.$/);
      expect(await customer.text('main')).not.toMatch(/partner hook|other hook|partner\.event/);
    }
    await customer.screenshot('not-found');
    const cursor = await customer.goto(`/console/webhooks/${subs.customer.id}?before=${failed.partner.id}`);
    expect(cursor.status).toBe(400);
    expect(await customer.text('[role="alert"]')).toBe('Invalid request: query.before must be the id of a delivery you can see.');
  });

  it('refuses forms pointed at another organization’s rows by editing them in the page, changing nothing', async () => {
    const before = await snapshot(t.dataSource);
    await customer.goto(`/console/deliveries/${failed.customer.id}`);
    const retarget = (selector: string, action: string) =>
      customer.evaluate((s: string, a: string) => document.querySelector(s)?.setAttribute('action', a), selector, action);

    await retarget('main .actions form', `/console/deliveries/${failed.partner.id}/replay`);
    expect((await customer.clickAndWait('main .actions form button')).status).toBe(404);

    await customer.goto(`/console/webhooks/${subs.customer.id}`);
    await retarget('form[action$="/enabled"]', `/console/webhooks/${subs.partner.id}/enabled`);
    expect((await customer.clickAndWait('form[action$="/enabled"] button')).status).toBe(404);

    await customer.goto(`/console/webhooks/${subs.customer.id}`);
    await customer.dialogs(true);
    await retarget('form[action$="/rotate-secret"]', `/console/webhooks/${subs.other.id}/rotate-secret`);
    expect((await customer.clickAndWait('form[action$="/rotate-secret"] button')).status).toBe(404);

    await customer.goto(`/console/webhooks/${subs.customer.id}/replay-failed?since=2020-01-01T00:00`);
    await retarget('main form', `/console/webhooks/${subs.partner.id}/replay-failed`);
    expect((await customer.clickAndWait('main form button.primary')).status).toBe(404);

    // A subscription for the partner's organization from the customer's form: 403, nothing stored.
    await customer.goto('/console/webhooks');
    await customer.type('#name', 'sneaky');
    await customer.type('#payload_url', 'https://example.com/hook');
    await customer.type('#organization_id', tree.partner.id);
    const created = await customer.clickAndWait('form[action="/console/webhooks"] button[type="submit"]');
    expect(created.status).toBe(403);
    expect(await customer.text('#create-error')).toBe('organization_id is not your organization or one below it.');
    expect(await customer.evaluate(() => (document.querySelector('#organization_id') as HTMLInputElement).value)).toBe(tree.partner.id);

    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it('lets the partner act on its customer’s rows, as the API does', async () => {
    await partner.goto(`/console/deliveries/${failed.customer.id}`);
    const replayed = await partner.clickAndWait('main .actions form button');
    expect(replayed.status).toBe(200);
    expect(await t.dataSource.getRepository(WebhookDelivery).countBy({ redeliveryOf: failed.customer.id })).toBe(1);
  });
});

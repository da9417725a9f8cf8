import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { WebhookHealthJob } from '../../src/webhooks/webhook-health.job';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { WebhookScope, WebhookSubscription } from '../../src/webhooks/webhook-subscription.entity';
import { createTree, createUser, Tree } from '../factories/organizations';
import { createDelivery, createSubscription } from '../factories/webhooks';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { emit, eventually } from '../setup/eventually';
import { cyberAppAuth } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';
import { TEST_DB } from '../setup/test-database';
import { BrowserClient, BrowserSession } from './browser/browser-client';
import { ConsoleApp, signIn, startConsoleApp } from './console-app';

jest.setTimeout(120_000);

const HOUR = 3_600_000;

/** A page of another origin whose button posts a form to the console (as a malicious site would). */
async function startAttacker(action: string, fields: Record<string, string>): Promise<{ port: number; close(): Promise<void> }> {
  const inputs = Object.entries(fields).map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`).join('');
  const page = `<!doctype html><title>Win</title><form method="post" action="${action}">${inputs}<button id="win">Claim your prize</button></form>`;
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Editing, testing, endpoint health and the event timeline in headless Chromium, against real receivers. */
describe(`console webhook editing, tests and endpoint health on ${TEST_DB}`, () => {
  let browser: BrowserClient;
  let t: ConsoleApp;
  let tree: Tree;
  let partner: BrowserSession;
  let customer: BrowserSession;
  let receiver: WebhookReceiver;
  let mirror: WebhookReceiver;
  const secret = generateSecret();
  let answer: { status: number; body: string } = { status: 200, body: 'ok' };
  const subs: Record<'receiver' | 'mirror' | 'customer', WebhookSubscription> = {} as never;

  beforeAll(async () => {
    browser = await BrowserClient.start();
    receiver = await startWebhookReceiver({ secret });
    receiver.setBehaviour(() => answer);
    mirror = await startWebhookReceiver();
    t = await startConsoleApp();
    tree = await createTree(t.dataSource);
    await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'customer', password: 'customer-password' });
    const hourAgo = new Date(Date.now() - HOUR);
    subs.receiver = await createSubscription(t.dataSource, { organizationId: tree.partner.id, name: 'Receiver', payloadUrl: receiver.url, secret, createdBy: tree.partnerUser.id, createdAt: hourAgo });
    subs.mirror = await createSubscription(t.dataSource, { organizationId: tree.partner.id, name: 'Mirror', payloadUrl: mirror.url, createdAt: new Date(hourAgo.getTime() + 1000) });
    subs.customer = await createSubscription(t.dataSource, { organizationId: tree.customers[0].id, name: 'Customer hook', payloadUrl: mirror.url, createdAt: new Date(hourAgo.getTime() + 2000) });
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
    await receiver.close();
    await mirror.close();
  });

  const row = (id: string) => t.dataSource.getRepository(WebhookSubscription).findOneByOrFail({ id });
  const deliveriesOf = (subscriptionId: string) => t.dataSource.getRepository(WebhookDelivery).find({ where: { subscriptionId }, order: { createdAt: 'ASC', id: 'ASC' } });

  it('edits a subscription: a refused change is shown in the form and stores nothing, an accepted one is saved', async () => {
    await partner.goto(`/console/webhooks/${subs.receiver.id}`);
    await partner.clickAndWait(`main .actions a[href="/console/webhooks/${subs.receiver.id}/edit"]`);
    expect(await partner.text('h1')).toBe('Edit Receiver');
    expect(await partner.evaluate(() => (document.querySelector('#payload_url') as HTMLInputElement).value)).toBe(receiver.url);
    await partner.screenshot('webhook-edit');

    // TLS verification on an http URL: the API's rule, the API's message.
    const before = await snapshot(t.dataSource);
    await partner.evaluate(() => ((document.querySelector('#name') as HTMLInputElement).value = 'Renamed'));
    await partner.evaluate(() => ((document.querySelector('#ssl_verification') as HTMLInputElement).checked = true));
    const refused = await partner.clickAndWait('main form button[type="submit"]');
    expect(refused.status).toBe(400);
    expect(await partner.text('#edit-error')).toMatch(/https/);
    expect(await partner.evaluate(() => (document.querySelector('#name') as HTMLInputElement).value)).toBe('Renamed');
    await partner.screenshot('webhook-edit-refused');
    expect(await snapshot(t.dataSource)).toEqual(before);

    await partner.evaluate(() => ((document.querySelector('#ssl_verification') as HTMLInputElement).checked = false));
    await partner.type('#description', 'Audit trail copy');
    await partner.evaluate(() => ((document.querySelector('#scope') as HTMLSelectElement).value = 'Domain'));
    const saved = await partner.clickAndWait('main form button[type="submit"]');
    expect(saved.url).toBe(`${t.base}/console/webhooks/${subs.receiver.id}?notice=saved`);
    expect(await partner.text('[role="status"]')).toBe('The subscription is saved.');
    expect(await row(subs.receiver.id)).toMatchObject({ name: 'Renamed', description: 'Audit trail copy', scope: WebhookScope.Domain, sslVerification: false, payloadUrl: receiver.url, secret });
  });

  it('sends a signed test event now and shows what the receiver answered', async () => {
    const before = await snapshot(t.dataSource);
    answer = { status: 202, body: 'accepted by the test receiver' };
    await partner.goto(`/console/webhooks/${subs.receiver.id}`);
    await partner.clickAndWait(`main .actions a[href="/console/webhooks/${subs.receiver.id}/test"]`);
    const sent = await partner.clickAndWait('main form button.primary');
    expect(sent.status).toBe(200);
    expect(await partner.text('#test-result')).toMatch(/^The receiver's answer: succeeded Status ?HTTP 202 Duration ?\d+ ms Body excerpt accepted by the test receiver$/);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0].headers['x-cs-event']).toBe('TEST.WEBHOOK');
    expect(receiver.received[0].json).toEqual({ CloudStack: 'works!' });
    expect(receiver.received[0].verified).toEqual({ cs: true, standard: true });
    await partner.screenshot('webhook-test');

    answer = { status: 500, body: 'receiver broke' };
    await partner.clickAndWait('main form button.primary');
    expect(await partner.text('#test-result')).toMatch(/^The receiver's answer: failed Status ?HTTP 500 Duration ?\d+ ms Error class ?http Error ?HTTP 500 Body excerpt receiver broke$/);
    expect(receiver.received).toHaveLength(2);
    // A test stores nothing.
    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it('shows every delivery of an event across subscriptions, each with its attempts, from the delivery page', async () => {
    answer = { status: 503, body: 'down' };
    const eventId = await emit(t, 'user.created', tree.partner.id, { login: 'alice' });
    const [failed] = await eventually(() => deliveriesOf(subs.receiver.id), (rows) => rows[0]?.state === DeliveryState.Failed);
    await eventually(() => deliveriesOf(subs.mirror.id), (rows) => rows[0]?.state === DeliveryState.Succeeded);

    await partner.goto(`/console/deliveries/${failed.id}`);
    const timeline = await partner.clickAndWait(`a[href="/console/events/${eventId}"]`);
    expect(timeline.status).toBe(200);
    expect(await partner.text('h1')).toBe('Event user.created');
    const items = await partner.evaluate(() =>
      Array.from(document.querySelectorAll('.event-delivery')).map((li) => ({
        heading: li.querySelector('h3')?.textContent?.trim(),
        attempts: Array.from(li.querySelectorAll('tbody tr')).map((tr) => Array.from(tr.children).map((td) => td.textContent?.trim())),
      })),
    );
    expect(items.map((i) => i.heading).sort()).toEqual(['Mirror: succeeded', 'Renamed: failed']);
    const failedItem = items.find((i) => i.heading === 'Renamed: failed')!;
    expect(failedItem.attempts.map((a) => [a[0], a[3], a[4], a[5]])).toEqual([
      ['1', 'HTTP 503', 'http', 'down'],
      ['2', 'HTTP 503', 'http', 'down'],
    ]);
    expect(items.find((i) => i.heading === 'Mirror: succeeded')!.attempts.map((a) => [a[0], a[3]])).toEqual([['1', 'HTTP 200']]);
    await partner.screenshot('event-timeline');
  });

  it('shows the banner of a subscription the gateway disabled, its badge in the list, and resumes its held deliveries once enabled', async () => {
    const since = (await eventually(() => row(subs.receiver.id), (s) => s.failingSince !== null)).failingSince!;
    expect(await t.app.get(WebhookHealthJob).check(new Date(since.getTime() + 120 * HOUR + 1000))).toBe(1);
    // A delivery left pending when it was disabled: held, not sent and not failed.
    const held = await createDelivery(t.dataSource, { subscriptionId: subs.receiver.id, state: DeliveryState.Pending, createdAt: new Date(Date.now() - 60_000) });
    const seen = receiver.received.length;

    await partner.goto('/console/webhooks');
    const state = await partner.evaluate(
      (id: string) => document.querySelector(`#subscriptions a[href="/console/webhooks/${id}"]`)?.closest('tr')?.querySelector('.badge')?.textContent,
      subs.receiver.id,
    );
    expect(state).toBe('auto-disabled');
    await partner.screenshot('webhooks-auto-disabled');

    await partner.goto(`/console/webhooks/${subs.receiver.id}`);
    expect(await partner.text('.banner h2')).toMatch(/^Disabled by the gateway on \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    expect(await partner.text('.banner')).toContain(`every attempt failed since ${since.toISOString()} (more than 120 hours)`);
    await partner.screenshot('webhook-auto-disabled');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.received).toHaveLength(seen);
    expect((await t.dataSource.getRepository(WebhookDelivery).findOneByOrFail({ id: held.id })).state).toBe(DeliveryState.Pending);

    answer = { status: 200, body: 'back' };
    const enabled = await partner.clickAndWait('.banner form button');
    expect(enabled.url).toBe(`${t.base}/console/webhooks/${subs.receiver.id}?notice=enabled`);
    expect(await partner.evaluate(() => document.querySelector('.banner'))).toBeNull();
    expect(await row(subs.receiver.id)).toMatchObject({ enabled: true, disabledReason: null, disabledAt: null, failingSince: null });
    await eventually(() => t.dataSource.getRepository(WebhookDelivery).findOneByOrFail({ id: held.id }), (d) => d.state === DeliveryState.Succeeded);
    expect(receiver.received.slice(seen).map((r) => r.headers['webhook-id'])).toEqual([held.eventId]);
  });

  it('pages the subscriptions by key, in the console and in the API', async () => {
    const base = Date.now() - 2 * HOUR;
    for (let i = 0; i < 100; i++) await createSubscription(t.dataSource, { organizationId: tree.partner.id, name: `old-${i}`, createdAt: new Date(base - i * 1000) });
    const all = await t.dataSource.getRepository(WebhookSubscription).find({ where: {}, order: { createdAt: 'DESC', id: 'DESC' } });
    const visible = all.filter((s) => s.organizationId !== tree.other.id);
    expect(visible).toHaveLength(103);
    await partner.goto('/console/webhooks');
    expect(await partner.evaluate(() => document.querySelectorAll('#subscriptions tbody tr').length)).toBe(100);
    const older = await partner.clickAndWait('#subscriptions a[rel="next"]');
    expect(older.url).toBe(`${t.base}/console/webhooks?before=${visible[99].id}`);
    const second = await partner.evaluate(() => Array.from(document.querySelectorAll('#subscriptions tbody tr a')).map((a) => a.getAttribute('href')));
    expect(second).toEqual(visible.slice(100).map((s) => `/console/webhooks/${s.id}`));
    expect(await partner.evaluate(() => document.querySelector('a[rel="next"]'))).toBeNull();

    const auth = cyberAppAuth('partner', tree.password);
    const page = await request(t.server).get(`/api/webhooks?before=${visible[1].id}&limit=2`).set('X-CyberApp-Auth', auth).expect(200);
    expect(page.body.items.map((s: { id: string }) => s.id)).toEqual([visible[2].id, visible[3].id]);
    expect(page.body.total).toBe(101);
    await request(t.server).get(`/api/webhooks?before=${visible[1].id}&offset=1`).set('X-CyberApp-Auth', auth).expect(400);
    const foreign = await createSubscription(t.dataSource, { organizationId: tree.other.id });
    const refused = await request(t.server).get(`/api/webhooks?before=${foreign.id}`).set('X-CyberApp-Auth', auth).expect(400);
    expect(refused.body.message ?? JSON.stringify(refused.body)).toMatch(/query.before must be the id of a subscription you can see/);
  });

  it('answers 404 to a customer for another organization’s edit, test and event pages, and for forms pointed at them, changing nothing', async () => {
    const before = await snapshot(t.dataSource);
    const seen = receiver.received.length;
    const [delivery] = await deliveriesOf(subs.receiver.id);
    for (const path of [`/console/webhooks/${subs.receiver.id}/edit`, `/console/webhooks/${subs.receiver.id}/test`, `/console/events/${delivery.eventId}`]) {
      const res = await customer.goto(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await customer.text('main')).not.toContain('Renamed');
    }
    const retarget = (selector: string, action: string) => customer.evaluate((s: string, a: string) => document.querySelector(s)?.setAttribute('action', a), selector, action);

    await customer.goto(`/console/webhooks/${subs.customer.id}/edit`);
    await customer.evaluate(() => ((document.querySelector('#name') as HTMLInputElement).value = 'pwned'));
    await retarget('main form', `/console/webhooks/${subs.receiver.id}/edit`);
    expect((await customer.clickAndWait('main form button[type="submit"]')).status).toBe(404);

    await customer.goto(`/console/webhooks/${subs.customer.id}/test`);
    await retarget('main form', `/console/webhooks/${subs.receiver.id}/test`);
    expect((await customer.clickAndWait('main form button.primary')).status).toBe(404);
    expect(receiver.received).toHaveLength(seen);

    // A field the form does not have, added in the page: the API's validation refuses it.
    await customer.goto(`/console/webhooks/${subs.customer.id}/edit`);
    await customer.evaluate((owner: string) => {
      const input = Object.assign(document.createElement('input'), { type: 'hidden', name: 'organization_id', value: owner });
      document.querySelector('main form')?.appendChild(input);
    }, tree.partner.id);
    const moved = await customer.clickAndWait('main form button[type="submit"]');
    expect(moved.status).toBe(400);
    expect(await customer.text('#edit-error')).toBe('Invalid request: organization_id cannot be changed; create a subscription in the other organization instead.');
    await customer.screenshot('webhook-edit-foreign-owner');
    expect(await snapshot(t.dataSource)).toEqual(before);
  });

  it('refuses an edit or a test posted from a page of another origin: 403, nothing changed or sent', async () => {
    const before = await snapshot(t.dataSource);
    const seen = receiver.received.length;
    for (const action of ['edit', 'test']) {
      const attacker = await startAttacker(`${t.base}/console/webhooks/${subs.receiver.id}/${action}`, { _csrf: 'guessed', name: 'pwned', payload_url: 'http://127.0.0.1:9/x' });
      try {
        await partner.goto(`http://127.0.0.1:${attacker.port}/`);
        const landed = await partner.clickAndWait('#win');
        expect(landed).toEqual({ status: 403, url: `${t.base}/console/webhooks/${subs.receiver.id}/${action}` });
      } finally {
        await attacker.close();
      }
    }
    expect(receiver.received).toHaveLength(seen);
    expect(await snapshot(t.dataSource)).toEqual(before);
  });
});

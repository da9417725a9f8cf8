import { IsNull, Not } from 'typeorm';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { WebhookSubscription } from '../../src/webhooks/webhook-subscription.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { createTree, Tree } from '../factories/organizations';
import { createDeliveries } from '../factories/webhooks';
import { ReceivedDelivery, startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { TEST_DB } from '../setup/test-database';
import { BrowserClient, BrowserSession } from './browser/browser-client';
import { emit, eventually } from '../setup/eventually';
import { ConsoleApp, signIn, startConsoleApp } from './console-app';

jest.setTimeout(120_000);

/** The webhook pages in headless Chromium, against a real receiver that fails, then answers. */
describe(`console webhooks on ${TEST_DB}`, () => {
  let browser: BrowserClient;
  let t: ConsoleApp;
  let tree: Tree;
  let session: BrowserSession;
  let receiver: WebhookReceiver;
  const secret = generateSecret();
  /** The receiver fails (503) while this is true, then answers 200. */
  let failing = true;

  beforeAll(async () => {
    browser = await BrowserClient.start();
    receiver = await startWebhookReceiver({ secret });
    receiver.setBehaviour(() => (failing ? { status: 503, body: 'receiver down for maintenance' } : { status: 200, body: 'thanks' }));
    t = await startConsoleApp();
    tree = await createTree(t.dataSource);
    session = await browser.session(t.base);
    await signIn(session, 'partner', tree.password);
  });

  afterAll(async () => {
    await session.close();
    await browser.close();
    await t.close();
    await receiver.close();
  });

  const subscriptionRow = () => t.dataSource.getRepository(WebhookSubscription).findOneByOrFail({ name: 'Receiver' });
  const deliveriesOf = (subscriptionId: string) =>
    t.dataSource.getRepository(WebhookDelivery).find({ where: { subscriptionId }, order: { createdAt: 'ASC', id: 'ASC' } });

  it('creates a subscription from the form and shows its secret once', async () => {
    await session.goto('/console/webhooks');
    expect(await session.text('#subscriptions')).toContain('No subscriptions yet.');
    await session.type('#name', 'Receiver');
    await session.type('#payload_url', receiver.url);
    await session.type('#secret', secret);
    // An http URL needs TLS verification off, as in the API: the form first says so.
    const refused = await session.clickAndWait('form[action="/console/webhooks"] button[type="submit"]');
    expect(refused.status).toBe(400);
    expect(await session.text('#create-error')).toMatch(/https/);
    expect(await session.evaluate(() => (document.querySelector('#name') as HTMLInputElement).value)).toBe('Receiver');
    expect(await t.dataSource.getRepository(WebhookSubscription).count()).toBe(0);

    await session.evaluate(() => ((document.querySelector('#ssl_verification') as HTMLInputElement).checked = false));
    await session.type('#secret', secret);
    const created = await session.clickAndWait('form[action="/console/webhooks"] button[type="submit"]');
    expect(created.status).toBe(201);
    expect(await session.text('h1')).toBe('Subscription Receiver created');
    expect(await session.evaluate(() => (document.querySelector('#secret-value') as HTMLInputElement).value)).toBe(secret);
    await session.screenshot('webhook-created');
    const row = await subscriptionRow();
    expect(row).toMatchObject({ organizationId: tree.partner.id, payloadUrl: receiver.url, secret, sslVerification: false, enabled: true, createdBy: tree.partnerUser.id });

    await session.clickAndWait('main a[href^="/console/webhooks/"]');
    expect(await session.text('main')).not.toContain(secret);
    await session.goto('/console/webhooks');
    expect(await session.text('#subscriptions')).toContain('Receiver');
    await session.screenshot('webhooks');
  });

  it('shows a failed delivery appear while the page is open, its attempts and the exact requests sent', async () => {
    const sub = await subscriptionRow();
    await session.goto(`/console/webhooks/${sub.id}`);
    expect(await session.text('#delivery-list')).toContain('No deliveries yet.');
    const eventId = await emit(t, 'user.created', tree.partner.id, { login: 'alice' });

    // The page refreshes itself: the delivery shows up, then fails after its two attempts.
    await session.waitFor(() => document.querySelector('#delivery-list .badge-failed') !== null, [], 20_000);
    await session.screenshot('subscription');
    const [delivery] = await deliveriesOf(sub.id);
    expect(delivery).toMatchObject({ eventId, state: DeliveryState.Failed, attempts: 2 });
    expect(receiver.received).toHaveLength(2);

    await session.clickAndWait(`#delivery-list a[href="/console/deliveries/${delivery.id}"]`);
    expect(await session.text('h1')).toBe('Delivery of user.created');
    const attempts = await session.evaluate(() =>
      Array.from(document.querySelectorAll('.attempt')).map((li) => ({
        heading: li.querySelector('h3')?.textContent,
        facts: Array.from(li.querySelector('dl')?.children ?? []).map((e) => e.textContent?.trim()).join(' '),
        response: li.querySelector('pre.response')?.textContent,
        request: li.querySelector('pre.request')?.textContent,
      })),
    );
    expect(attempts).toHaveLength(2);
    attempts.forEach((a, i) => {
      expect(a.heading).toBe(`Attempt ${i + 1}: failed`);
      expect(a.facts).toMatch(/^Started \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ Duration \d+ ms Status HTTP 503 Error class http Error HTTP 503$/);
      expect(a.response).toBe('receiver down for maintenance');
      expect(a.request).toBe(requestAsReceived(receiver.received[i]));
    });
    // The signatures shown are the ones that verified at the receiver.
    expect(receiver.received.map((r) => r.verified)).toEqual([{ cs: true, standard: true }, { cs: true, standard: true }]);
    await session.evaluate(() => document.querySelectorAll('details').forEach((d) => (d.open = true)));
    await session.screenshot('delivery-failed');
  });

  it('replays the failed delivery and shows the new attempt succeed without a reload', async () => {
    const sub = await subscriptionRow();
    const [original] = await deliveriesOf(sub.id);
    failing = false;
    await session.goto(`/console/deliveries/${original.id}`);
    const replayed = await session.clickAndWait('main .actions button');
    const copies = await deliveriesOf(sub.id);
    expect(copies).toHaveLength(2);
    const copy = copies[1];
    expect(copy).toMatchObject({ redeliveryOf: original.id, eventId: original.eventId, payload: original.payload });
    expect(replayed.url).toBe(`${t.base}/console/deliveries/${copy.id}?notice=replayed`);
    expect(await session.text('[role="status"]')).toContain('Replay queued');

    await session.waitFor(() => document.querySelector('#timeline .attempt.ok') !== null, [], 20_000);
    expect(await session.text('#summary')).toContain('succeeded');
    expect(await session.text('#timeline')).toContain('Attempt 1: succeeded');
    expect(await session.text('#timeline')).toContain('HTTP 200');
    expect(receiver.received).toHaveLength(3);
    expect(receiver.received[2].body.toString('utf8')).toBe(original.payload);
    await session.screenshot('delivery-replayed');
  });

  it('replays every failed delivery since a time after showing how many, and empties the dead letters', async () => {
    const sub = await subscriptionRow();
    failing = true;
    const before = new Date(Date.now() - 1000);
    await emit(t, 'user.updated', tree.partner.id, { n: 1 });
    await emit(t, 'user.updated', tree.partner.id, { n: 2 });
    await eventually(() => deliveriesOf(sub.id), (rows) => rows.filter((r) => r.state === DeliveryState.Failed).length === 3);

    await session.goto('/console/dead-letters');
    // The first failure was replayed already: two dead letters are left.
    expect(await session.evaluate(() => document.querySelectorAll('#dead-letters tbody tr').length)).toBe(2);
    expect(await session.text('#dead-letters')).toContain('Receiver');
    await session.screenshot('dead-letters');

    await session.goto(`/console/webhooks/${sub.id}`);
    await session.setValue('#since', before.toISOString().slice(0, 19));
    const confirm = await session.clickAndWait('#replay-h + form button');
    expect(confirm.url).toContain(`/console/webhooks/${sub.id}/replay-failed?since=`);
    expect(await session.text('main')).toContain('2 failed deliveries of Receiver');
    await session.screenshot('replay-confirm');
    expect(await deliveriesOf(sub.id)).toHaveLength(4);

    failing = false;
    const done = await session.clickAndWait('main form button.primary');
    expect(done.url).toBe(`${t.base}/console/webhooks/${sub.id}?notice=replayed-many&count=2`);
    expect(await session.text('[role="status"]')).toBe('2 failed deliveries queued for replay.');
    const rows = await eventually(() => deliveriesOf(sub.id), (all) => all.length === 6 && all.slice(4).every((r) => r.state === DeliveryState.Succeeded));
    expect(new Set(rows.slice(4).map((r) => r.redeliveryOf))).toEqual(new Set(rows.slice(2, 4).map((r) => r.id)));

    await session.goto('/console/dead-letters');
    expect(await session.text('#dead-letters')).toContain('No dead letters');
  });

  it('pages through the deliveries by key, and filters them', async () => {
    const sub = await subscriptionRow();
    await session.goto(`/console/webhooks/${sub.id}?state=succeeded`);
    expect(await session.evaluate(() => document.querySelectorAll('#delivery-list tbody tr').length)).toBe(3);
    await session.goto(`/console/webhooks/${sub.id}?state=dead-letters`);
    expect(await session.text('#delivery-list')).toContain('No deliveries match.');

    // 50 a page: 55 older deliveries make a second page, reached by the last id of the first.
    await createDeliveries(t.dataSource, sub.id, 55, new Date(Date.now() - 3_600_000));
    const all = await deliveriesOf(sub.id);
    expect(all).toHaveLength(61);
    await session.goto(`/console/webhooks/${sub.id}`);
    expect(await session.evaluate(() => document.querySelectorAll('#delivery-list tbody tr').length)).toBe(50);
    const newest = [...all].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (b.id < a.id ? -1 : 1));
    const older = await session.clickAndWait('a[rel="next"]');
    expect(older.url).toBe(`${t.base}/console/webhooks/${sub.id}?before=${newest[49].id}`);
    const second = await session.evaluate(() => Array.from(document.querySelectorAll('#delivery-list tbody tr a[href^="/console/deliveries/"]')).map((a) => a.getAttribute('href')));
    expect(second).toEqual(newest.slice(50).map((d) => `/console/deliveries/${d.id}`));
    expect(await session.evaluate(() => document.querySelector('a[rel="next"]'))).toBeNull();
  });

  it('disables and enables the subscription, and rotates its secret, showing the new one once', async () => {
    const sub = await subscriptionRow();
    await session.goto(`/console/webhooks/${sub.id}`);
    const disabled = await session.clickAndWait('form[action$="/enabled"] button');
    expect(disabled.url).toBe(`${t.base}/console/webhooks/${sub.id}?notice=disabled`);
    expect(await session.text('[role="status"]')).toContain('The subscription is disabled');
    expect((await subscriptionRow()).enabled).toBe(false);
    const enabled = await session.clickAndWait('form[action$="/enabled"] button');
    expect(enabled.url).toBe(`${t.base}/console/webhooks/${sub.id}?notice=enabled`);
    expect((await subscriptionRow()).enabled).toBe(true);

    await session.dialogs(false);
    await session.evaluate(() => (document.querySelector('form[action$="/rotate-secret"] button') as HTMLButtonElement).click());
    expect(await session.dialogs(true)).toEqual(['Rotate the secret? The new one is shown once; the previous one keeps signing for the overlap.']);
    expect((await subscriptionRow()).secret).toBe(secret);
    const rotated = await session.clickAndWait('form[action$="/rotate-secret"] button');
    expect(rotated.status).toBe(200);
    const row = await subscriptionRow();
    expect(row.secret).not.toBe(secret);
    expect(row.previousSecret).toBe(secret);
    expect(await session.evaluate(() => (document.querySelector('#secret-value') as HTMLInputElement).value)).toBe(row.secret);
    expect(await t.dataSource.getRepository(WebhookSubscription).countBy({ previousSecretExpiresAt: Not(IsNull()) })).toBe(1);
  });
});

/** A request as the receiver got it, in the console's layout: request line, headers as sent, blank line, body. */
function requestAsReceived(r: ReceivedDelivery): string {
  const names = ['host', 'content-type', 'user-agent', 'x-cs-event-id', 'x-cs-event', 'webhook-id', 'webhook-timestamp', 'x-cs-signature', 'webhook-signature', 'content-length', 'connection'];
  expect(Object.keys(r.headers).sort()).toEqual([...names].sort());
  return [`POST ${r.path} HTTP/1.1`, ...names.map((n) => `${n}: ${String(r.headers[n])}`), '', r.body.toString('utf8')].join('\n');
}

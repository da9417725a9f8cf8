import { CreateBucketCommand } from '@aws-sdk/client-s3';
import request from 'supertest';
import { S3InboxRecord, S3InboxState } from '../../src/s3-events/s3-inbox-record.entity';
import { S3SourceConfirmation } from '../../src/s3-events/s3-source-confirmation.entity';
import { LocalS3, S3RVER_KEY, startLocalS3 } from '../fakes/s3-server';
import { createTree, createUser, Tree } from '../factories/organizations';
import { createInboxRecords, createSource, CreatedSource, notification } from '../factories/s3-events';
import { eventually } from '../setup/eventually';
import { cyberAppAuth } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';
import { TEST_DB } from '../setup/test-database';
import { BrowserClient, BrowserSession } from './browser/browser-client';
import { ConsoleApp, signIn, startConsoleApp } from './console-app';

jest.setTimeout(120_000);

/**
 * The S3 pages in headless Chromium, against a real local S3 server (s3rver): a source's
 * subscription confirmation, a record whose replicate action fails (the target bucket is missing),
 * replayed from its page once the bucket exists; paging and filters; a customer's user confined to
 * its own organization, also when it edits URLs and forms.
 */
describe(`console S3 pages on ${TEST_DB}`, () => {
  let browser: BrowserClient;
  let s3: LocalS3;
  let t: ConsoleApp;
  let tree: Tree;
  let partner: BrowserSession;
  let customer: BrowserSession;
  let source: CreatedSource;
  let customerSource: CreatedSource;
  let otherSource: CreatedSource;

  const confirmation = (bucket: string) => ({
    Type: 'SubscriptionConfirmation',
    Timestamp: '2024-05-01T10:00:00+03:00',
    TopicArn: `mcs2883541269|${bucket}|s3:ObjectCreated:*`,
    Token: 'RPE5UuG94rGgBH6kHXN9FUPugFxj1hs2aUQc99btJp3E49tA',
    SignatureVersion: 1,
  });
  const records = (sourceId: string) => t.dataSource.getRepository(S3InboxRecord).find({ where: { sourceId }, order: { createdAt: 'DESC', id: 'DESC' } });

  beforeAll(async () => {
    browser = await BrowserClient.start();
    s3 = await startLocalS3(['photos']);
    t = await startConsoleApp({ S3_EVENTS_ALLOWED_PRIVATE: '127.0.0.1/8', S3_EVENTS_POLL_MS: '50', S3_EVENTS_BACKOFF_BASE_MS: '100', S3_EVENTS_BACKOFF_MAX_MS: '200', S3_EVENTS_MAX_ATTEMPTS: '2' });
    tree = await createTree(t.dataSource);
    await createUser(t.dataSource, { organizationId: tree.customers[0].id, login: 'customer', password: 'customer-password' });
    const target = { endpoint: s3.endpoint, region: 'us-east-1', access_key_id: S3RVER_KEY, secret_access_key: S3RVER_KEY, force_path_style: true, bucket: 'photos-backup' };
    source = await createSource(t, cyberAppAuth('partner', tree.password), {
      name: 'Photo backup',
      public_url: 'http://gateway.test/s3-events/{token}',
      allowed_buckets: ['photos'],
      actions: [{ type: 'replicate', ...target }],
    });
    customerSource = await createSource(t, cyberAppAuth('partner', tree.password), { name: 'Customer events', organization_id: tree.customers[0].id, allowed_buckets: ['bucketA'] });
    otherSource = await createSource(t, cyberAppAuth('other', 'other-password'), { name: 'Other partner events', allowed_buckets: ['bucketA'] });
    partner = await browser.session(t.base);
    await signIn(partner, 'partner', tree.password);
    customer = await browser.session(t.base);
    await signIn(customer, 'customer', 'customer-password');
  });

  afterAll(async () => {
    await partner?.close();
    await customer?.close();
    await browser?.close();
    await t?.close();
    await s3?.close();
  });

  it('lists the sources with their state, and shows a subscription confirmation once the intake answered it', async () => {
    await partner.goto('/console/s3-sources');
    const names = await partner.evaluate(() => Array.from(document.querySelectorAll('#sources tbody tr td:first-child')).map((td) => td.textContent));
    expect(new Set(names)).toEqual(new Set(['Photo backup', 'Customer events']));
    expect(await partner.text('#sources')).toContain('no public URL');

    const answer = await request(t.server).post(source.intake_path).send(confirmation('photos')).expect(200);
    expect(answer.body.signature).toMatch(/^[0-9a-f]{64}$/);
    await partner.goto(`/console/s3-sources/${source.id}`);
    expect(await partner.text('#confirmations')).toContain('mcs2883541269|photos|s3:ObjectCreated:*');
    expect(await partner.text('#confirmations')).toContain('2024-05-01T10:00:00+03:00');
    expect(await partner.text('main')).not.toContain(confirmation('photos').Token);
    expect(await partner.text('#settings')).toContain('replicate to photos-backup');
    await partner.goto('/console/s3-sources');
    expect(await partner.text(`#sources tbody tr:has(a[href="/console/s3-sources/${source.id}"])`)).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
    await partner.screenshot('s3-sources');

    // The API shows the same confirmations; another organization's source is 404 there too.
    const api = await request(t.server).get(`/api/s3-events/sources/${source.id}/confirmations`).set('X-CyberApp-Auth', cyberAppAuth('partner', tree.password)).expect(200);
    expect(api.body.items).toEqual([
      expect.objectContaining({ source_id: source.id, bucket: 'photos', topic_arn: 'mcs2883541269|photos|s3:ObjectCreated:*', message_timestamp: '2024-05-01T10:00:00+03:00' }),
    ]);
    expect(JSON.stringify(api.body)).not.toContain(confirmation('photos').Token);
    await request(t.server).get(`/api/s3-events/sources/${otherSource.id}/confirmations`).set('X-CyberApp-Auth', cyberAppAuth('partner', tree.password)).expect(404);
  });

  it('shows a failed record appear in the open source page, its error and action runs; replays it and sees it succeed', async () => {
    await partner.goto(`/console/s3-sources/${source.id}`);
    expect(await partner.text('#inbox-list')).toContain('No object events received yet.');
    await s3.put('photos', 'cats/tom.jpg', 'meow');
    await request(t.server).post(source.intake_path).send(notification({ bucket: 'photos', key: 'cats/tom.jpg', sequencer: 1, size: 4 })).expect(200);
    await partner.waitFor(() => document.querySelector('#inbox-list .badge-failed') !== null, [], 20_000);
    await partner.screenshot('s3-source');
    const [record] = await records(source.id);
    expect(record).toMatchObject({ state: S3InboxState.Failed, attempts: 2 });

    await partner.clickAndWait(`#inbox-list a[href="/console/s3-records/${record.id}"]`);
    expect(await partner.text('#summary')).toMatch(/Statefailed SourcePhoto backup Events3:ObjectCreated:Put Bucketphotos Keycats\/tom\.jpg Size4 bytes .* Attempts2 /);
    expect(await partner.text('#summary')).toContain('NoSuchBucket');
    const runs = await partner.evaluate(() => Array.from(document.querySelectorAll('#actions-run .attempt h3')).map((h) => h.textContent));
    expect(runs).toEqual(['Action 1 (replicate, copy), try 1: failed', 'Action 1 (replicate, copy), try 2: failed']);
    await partner.screenshot('s3-record-failed');

    await s3.client.send(new CreateBucketCommand({ Bucket: 'photos-backup' }));
    const replayed = await partner.clickAndWait('#summary .actions button');
    expect(replayed.url).toBe(`${t.base}/console/s3-records/${record.id}?notice=replayed`);
    expect(await partner.text('[role="status"]')).toContain('Replay queued');
    await partner.waitFor(() => document.querySelector('#summary .badge-done') !== null, [], 20_000);
    expect(await partner.text('#actions-run')).toContain('Action 1 (replicate, copy), try 3: succeeded');
    expect(await s3.get('photos-backup', 'cats/tom.jpg')).toBe('meow');
    expect((await records(source.id))[0]).toMatchObject({ id: record.id, state: S3InboxState.Done, lastError: null });
    // Finished: the replay button is back, without a reload.
    expect(await partner.evaluate(() => document.querySelector('#summary .actions button')?.textContent)).toBe('Replay this record');
    await partner.screenshot('s3-record-replayed');
  });

  it('pages the inbox by key, newest first, and filters it by state', async () => {
    await createInboxRecords(t.dataSource, { id: source.id, organizationId: tree.partner.id }, 60, new Date(Date.now() - 3_600_000), S3InboxState.Done);
    await createInboxRecords(t.dataSource, { id: source.id, organizationId: tree.partner.id }, 3, new Date(Date.now() - 7_200_000), S3InboxState.Failed);
    const all = await records(source.id);
    expect(all).toHaveLength(64);
    await partner.goto(`/console/s3-sources/${source.id}`);
    const rows = () => partner.evaluate(() => Array.from(document.querySelectorAll('#inbox-list tbody a[href^="/console/s3-records/"]')).map((a) => a.getAttribute('href')));
    expect(await rows()).toEqual(all.slice(0, 50).map((r) => `/console/s3-records/${r.id}`));
    const older = await partner.clickAndWait('#inbox-list a[rel="next"]');
    expect(older.url).toBe(`${t.base}/console/s3-sources/${source.id}?before=${all[49].id}`);
    expect(await rows()).toEqual(all.slice(50).map((r) => `/console/s3-records/${r.id}`));
    expect(await partner.evaluate(() => document.querySelector('a[rel="next"]'))).toBeNull();

    await partner.goto(`/console/s3-sources/${source.id}`);
    await partner.evaluate(() => ((document.querySelector('#state') as HTMLSelectElement).value = 'failed'));
    const filtered = await partner.clickAndWait('form.filter button');
    expect(filtered.url).toBe(`${t.base}/console/s3-sources/${source.id}?state=failed`);
    expect(await rows()).toEqual(all.filter((r) => r.state === S3InboxState.Failed).map((r) => `/console/s3-records/${r.id}`));

    const bad = await partner.goto(`/console/s3-sources/${source.id}?state=lost`);
    expect(bad.status).toBe(400);
    expect(await partner.text('[role="alert"]')).toMatch(/^Unknown filter; choose one of all, pending, processing, done, skipped_stale, failed\.$/);
    const badCursor = await partner.goto(`/console/s3-sources/${source.id}?before=nope`);
    expect(badCursor.status).toBe(400);
    expect(await partner.text('[role="alert"]')).toBe('Invalid request: before must be the id of an inbox record you can see.');
  });

  it('shows a customer’s user only its organization’s sources, and answers 404 for another’s by URL and by edited form, changing nothing', async () => {
    const foreign = (await createInboxRecords(t.dataSource, { id: otherSource.id, organizationId: tree.other.id }, 1, new Date(), S3InboxState.Failed))[0];
    const own = (await createInboxRecords(t.dataSource, { id: customerSource.id, organizationId: tree.customers[0].id }, 1, new Date(), S3InboxState.Failed))[0];
    const partnerRecord = (await records(source.id))[0];

    await customer.goto('/console/s3-sources');
    expect(await customer.evaluate(() => Array.from(document.querySelectorAll('#sources tbody a')).map((a) => a.getAttribute('href')))).toEqual([`/console/s3-sources/${customerSource.id}`]);
    for (const path of [`/console/s3-sources/${source.id}`, `/console/s3-sources/${otherSource.id}`, `/console/s3-records/${partnerRecord.id}`, `/console/s3-records/${foreign}`]) {
      const res = await customer.goto(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await customer.text('main')).not.toMatch(/Photo backup|Other partner events|cats\/tom/);
    }
    const cursor = await customer.goto(`/console/s3-sources/${customerSource.id}?before=${partnerRecord.id}`);
    expect(cursor.status).toBe(400);

    const before = await snapshot(t.dataSource);
    await customer.goto(`/console/s3-records/${own}`);
    await customer.screenshot('s3-record-customer');
    await customer.evaluate((a: string) => document.querySelector('#summary .actions form')?.setAttribute('action', a), `/console/s3-records/${foreign}/replay`);
    expect((await customer.clickAndWait('#summary .actions form button')).status).toBe(404);
    await customer.goto(`/console/s3-records/${own}`);
    await customer.evaluate((a: string) => document.querySelector('#summary .actions form')?.setAttribute('action', a), `/console/s3-records/${partnerRecord.id}/replay`);
    expect((await customer.clickAndWait('#summary .actions form button')).status).toBe(404);
    expect(await snapshot(t.dataSource)).toEqual(before);

    // Its own record it can replay.
    await customer.goto(`/console/s3-records/${own}`);
    expect((await customer.clickAndWait('#summary .actions form button')).url).toBe(`${t.base}/console/s3-records/${own}?notice=replayed`);
    await eventually(() => t.dataSource.getRepository(S3InboxRecord).findOneByOrFail({ id: own }), (r) => r.state === S3InboxState.Done);
  });

  it('keeps the newest 100 confirmations of a source', async () => {
    for (let i = 0; i < 101; i++) await request(t.server).post(source.intake_path).send(confirmation('photos')).expect(200);
    const kept = await t.dataSource.getRepository(S3SourceConfirmation).find({ where: { sourceId: source.id }, order: { confirmedAt: 'ASC', id: 'ASC' } });
    expect(kept).toHaveLength(100);
    await partner.goto(`/console/s3-sources/${source.id}`);
    expect(await partner.evaluate(() => document.querySelectorAll('#confirmations tbody tr').length)).toBe(100);
  });
});

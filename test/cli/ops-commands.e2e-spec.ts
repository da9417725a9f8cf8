import request from 'supertest';
import type { DataSource } from 'typeorm';
import { User } from '../../src/users/user.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { startWebhookReceiver, WebhookReceiver } from '../fakes/webhook-receiver';
import { createOrganization } from '../factories/organizations';
import { createDelivery, createSubscription } from '../factories/webhooks';
import { createTestApp } from '../setup/create-test-app';
import { cyberAppAuth } from '../setup/protocol';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';
import { openDataSource, runCli } from './cli-process';

// Every command is a fresh Node process under ts-node: seconds apiece.
jest.setTimeout(180_000);

describe(`operator commands on ${TEST_DB}`, () => {
  let database: TestDatabase;
  let ds: DataSource;
  let organizationId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    expect(await runCli(database, ['migrate'])).toMatchObject({ code: 0 });
    ds = await openDataSource(database);
    organizationId = (await createOrganization(ds, { name: 'Vendor' })).id;
  });
  afterAll(async () => {
    await ds?.destroy();
    await database.drop();
  });

  it('migrate applies nothing more on a migrated database and lists what is applied', async () => {
    const outcome = await runCli(database, ['migrate']);
    expect(outcome).toMatchObject({ code: 0, stderr: '' });
    expect(outcome.stdout).toContain('nothing pending');
    expect(outcome.stdout).toMatch(/(\d+) of \1 migrations applied/);
    expect(outcome.stdout).toContain('WebhooksSchema1732600000000');
  });

  describe('user', () => {
    it('adds a user who can then authenticate, changes the password, and removes the user', async () => {
      const added = await runCli(database, ['user', 'add', 'Ops.Admin', '--organization', organizationId, '--name', 'Ops'], { USER_PASSWORD: 'first-pw' });
      expect(added).toMatchObject({ code: 0, stderr: '' });
      expect(added.stdout).toContain('user "ops.admin" created');
      const user = await ds.getRepository(User).findOneByOrFail({ login: 'ops.admin' });
      expect(user).toMatchObject({ name: 'Ops', organizationId, password: expect.stringMatching(/^\$argon2id\$/) });
      const events: Array<{ type: string }> = await ds.query('SELECT type FROM events ORDER BY created_at');
      expect(events.map((e) => e.type)).toContain('user.created');

      const app = await createTestApp({}, database);
      try {
        const list = (password: string) =>
          request(app.server).get('/api/webhooks').set('X-CyberApp-Auth', cyberAppAuth('ops.admin', password));
        await list('first-pw').expect(200);

        expect(await runCli(database, ['user', 'passwd', 'ops.admin', '--password', 'second-pw'])).toMatchObject({ code: 0 });
        await list('second-pw').expect(200);
      } finally {
        await app.close();
      }

      const removed = await runCli(database, ['user', 'remove', 'OPS.ADMIN']);
      expect(removed).toMatchObject({ code: 0, stderr: '' });
      expect(await ds.getRepository(User).countBy({ login: 'ops.admin' })).toBe(0);
    });

    it('refuses a taken login, an unknown organization and a missing password, changing nothing', async () => {
      await runCli(database, ['user', 'add', 'taken', '--organization', organizationId, '--password', 'pw']);
      const before = await ds.getRepository(User).count();
      const taken = await runCli(database, ['user', 'add', 'TAKEN', '--organization', organizationId, '--password', 'pw']);
      expect(taken).toMatchObject({ code: 1, stderr: 'A user with login "taken" already exists.\n' });
      const unknownOrg = await runCli(database, ['user', 'add', 'new', '--organization', 'nope', '--password', 'pw']);
      expect(unknownOrg).toMatchObject({ code: 1, stderr: 'No organization with id "nope".\n' });
      const noPassword = await runCli(database, ['user', 'add', 'new', '--organization', organizationId]);
      expect(noPassword.code).toBe(1);
      expect(noPassword.stderr).toContain('No password');
      const unknownUser = await runCli(database, ['user', 'passwd', 'ghost', '--password', 'pw']);
      expect(unknownUser).toMatchObject({ code: 1, stderr: 'No user with login "ghost".\n' });
      expect(await ds.getRepository(User).count()).toBe(before);
    });
  });

  describe('webhooks', () => {
    let receiver: WebhookReceiver;
    beforeAll(async () => {
      receiver = await startWebhookReceiver();
    });
    afterAll(async () => {
      await receiver.close();
    });
    const env = { WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8' };

    it('test sends TEST.WEBHOOK now, prints the answer and stores nothing', async () => {
      const sub = await createSubscription(ds, { organizationId, payloadUrl: receiver.url });
      const before = await ds.getRepository(WebhookDelivery).count();
      const outcome = await runCli(database, ['webhooks', 'test', sub.id], env);
      expect(outcome).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(outcome.stdout)).toMatchObject({ success: true, status: 200, response_body: 'ok' });
      expect(receiver.received.at(-1)?.headers['x-cs-event']).toBe('TEST.WEBHOOK');
      expect(receiver.received.at(-1)?.json).toEqual({ CloudStack: 'works!' });
      expect(await ds.getRepository(WebhookDelivery).count()).toBe(before);
    });

    it('test exits 1 when the receiver refuses', async () => {
      receiver.setBehaviour({ status: 500 });
      const sub = await createSubscription(ds, { organizationId, payloadUrl: receiver.url });
      const outcome = await runCli(database, ['webhooks', 'test', sub.id, '--payload', '{"hello":1}'], env);
      receiver.setBehaviour({ status: 200, body: 'ok' });
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain('HTTP 500');
      expect(receiver.received.at(-1)?.json).toEqual({ hello: 1 });
    });

    it("redeliver --failed replays every failed delivery of a subscription as new pending deliveries of the same events", async () => {
      const sub = await createSubscription(ds, { organizationId, payloadUrl: receiver.url });
      const failed = [];
      for (let i = 0; i < 3; i++) failed.push(await createDelivery(ds, { subscriptionId: sub.id, state: DeliveryState.Failed, organizationId }));
      await createDelivery(ds, { subscriptionId: sub.id, state: DeliveryState.Succeeded, organizationId });
      const outcome = await runCli(database, ['webhooks', 'redeliver', '--subscription', sub.id, '--failed'], env);
      expect(outcome).toMatchObject({ code: 0, stderr: '' });
      expect(outcome.stdout).toContain('redelivered 3 of 3');
      const copies = await ds.getRepository(WebhookDelivery).findBy({ subscriptionId: sub.id, state: DeliveryState.Pending });
      expect(copies.map((c) => c.redeliveryOf).sort()).toEqual(failed.map((f) => f.id).sort());
      for (const copy of copies) {
        const original = failed.find((f) => f.id === copy.redeliveryOf);
        expect(copy).toMatchObject({ eventId: original?.eventId, payload: original?.payload, attempts: 0 });
      }
    });

    it('redeliver by id reports unknown ids and exits 1', async () => {
      const outcome = await runCli(database, ['webhooks', 'redeliver', 'no-such-delivery'], env);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain('no-such-delivery: no such delivery');
    });
  });
});

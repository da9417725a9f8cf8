import request from 'supertest';
import type { DataSource } from 'typeorm';
import { ROOT_ORGANIZATION_ID, ROOT_USER_ID, SAMPLE_CUSTOMERS, SAMPLE_ROOT_USERS } from '../../src/cli/seed-data';
import { Organization, OrganizationKind } from '../../src/organizations/organization.entity';
import { User } from '../../src/users/user.entity';
import { createTestApp } from '../setup/create-test-app';
import { cyberAppAuth, envelope, responseType } from '../setup/protocol';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';
import { openDataSource, runSeed } from './cli-process';

// Each seed is a fresh Node process under ts-node: seconds apiece.
jest.setTimeout(180_000);

/** Every row of the seeded tables, in a stable order. */
async function rows(ds: DataSource): Promise<unknown[]> {
  const organizations: unknown[] = await ds.query('SELECT * FROM organizations ORDER BY id');
  const users: unknown[] = await ds.query('SELECT * FROM users ORDER BY id');
  return [organizations, users];
}

describe(`npm run seed on ${TEST_DB}`, () => {
  describe('with --login and --password', () => {
    let database: TestDatabase;
    let ds: DataSource;
    let firstRun: Awaited<ReturnType<typeof runSeed>>;

    beforeAll(async () => {
      database = await createTestDatabase();
      firstRun = await runSeed(database, ['--login', 'Root', '--password', 'pw']);
      ds = await openDataSource(database);
    });
    afterAll(async () => {
      await ds?.destroy();
      await database.drop();
    });

    it('succeeds on an empty database and says what it created', () => {
      expect(firstRun).toMatchObject({ code: 0 });
      expect(firstRun.stdout).toContain('organizations: 6 created, 0 already present');
      expect(firstRun.stdout).toContain('users: 10 created, 0 already present');
      expect(firstRun.stdout).toContain('root user "root": created');
    });

    it('creates the root partner organization and the root user with the sample fixed ids, the login lower-cased', async () => {
      expect(await ds.manager.findOneBy(Organization, { id: ROOT_ORGANIZATION_ID })).toEqual({
        id: ROOT_ORGANIZATION_ID,
        parentId: null,
        name: 'John Doe Inc.',
        kind: OrganizationKind.Partner,
      });
      expect(await ds.manager.findOneBy(User, { id: ROOT_USER_ID })).toMatchObject({
        login: 'root',
        name: 'John Doe',
        email: 'root@john-doe.xyz',
        organizationId: ROOT_ORGANIZATION_ID,
        password: expect.stringMatching(/^\$argon2id\$v=19\$/),
      });
    });

    it('creates five customer organizations under the root, each with one password-less first.last user', async () => {
      const customers = await ds.manager.find(Organization, { where: { parentId: ROOT_ORGANIZATION_ID }, order: { name: 'ASC' } });
      expect(customers.map((c) => c.id).sort()).toEqual(SAMPLE_CUSTOMERS.map((c) => c.id).sort());
      for (const customer of customers) {
        expect(customer.kind).toBe(OrganizationKind.Customer);
        expect(customer.name).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+ Inc\.$/);
        const users = await ds.manager.findBy(User, { organizationId: customer.id });
        expect(users.map((u) => u.id)).toEqual([SAMPLE_CUSTOMERS.find((c) => c.id === customer.id)?.user.id]);
        const fullName = customer.name.replace(/ Inc\.$/, '');
        const login = fullName.toLowerCase().replace(' ', '.');
        expect(users[0]).toMatchObject({ login, name: fullName, email: `${login}@john-doe.xyz`, password: null });
      }
    });

    it('adds five password-less users to the root organization besides the root user', async () => {
      const users = await ds.manager.findBy(User, { organizationId: ROOT_ORGANIZATION_ID });
      const others = users.filter((u) => u.id !== ROOT_USER_ID);
      expect(others.map((u) => u.id).sort()).toEqual(SAMPLE_ROOT_USERS.map((u) => u.id).sort());
      for (const user of others) {
        expect(user.login).toMatch(/^[a-z]+\.[a-z]+$/);
        expect(user).toMatchObject({ email: `${user.login}@john-doe.xyz`, password: null });
      }
    });

    it('changes nothing when run again, and keeps the root password', async () => {
      const before = await rows(ds);

      const again = await runSeed(database, ['--login', 'Root', '--password', 'another password']);

      expect(again).toMatchObject({ code: 0 });
      expect(again.stdout).toContain('organizations: 0 created, 6 already present');
      expect(again.stdout).toContain('users: 0 created, 10 already present');
      expect(again.stdout).toContain('root user "root": already present, password kept');
      expect(await rows(ds)).toEqual(before);
    });

    it('lets the seeded root user authenticate a callback as the root organization', async () => {
      const t = await createTestApp({}, database);
      try {
        const res = await request(t.server)
          .post('/callback')
          .set('X-CyberApp-Auth', cyberAppAuth('root', 'pw'))
          .send(envelope('enablement.read'))
          .expect(200);
        expect(res.body.type).toBe(responseType('a.p.enablement.read.ok.v1.0'));
        expect(res.body.payload.vendor_tenant_id).toBe(ROOT_ORGANIZATION_ID);
      } finally {
        await t.close();
      }
    });

    it('replaces only the root password with --reset-password', async () => {
      const [organizations] = await rows(ds);
      const before = await ds.manager.findOneByOrFail(User, { id: ROOT_USER_ID });

      const reset = await runSeed(database, ['--reset-password', '--password', 'new password']);

      expect(reset).toMatchObject({ code: 0 });
      expect(reset.stdout).toContain('root user "root": password reset');
      const after = await ds.manager.findOneByOrFail(User, { id: ROOT_USER_ID });
      expect(after.password).toMatch(/^\$argon2id\$/);
      expect(after.password).not.toBe(before.password);
      expect(after.login).toBe('root');
      expect((await rows(ds))[0]).toEqual(organizations);
    });
  });

  describe('with SEED_ROOT_LOGIN and SEED_ROOT_PASSWORD', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase();
    });
    afterAll(() => database.drop());

    it('takes the root credentials from the environment', async () => {
      const run = await runSeed(database, [], { SEED_ROOT_LOGIN: 'Automation', SEED_ROOT_PASSWORD: 'secret' });

      expect(run).toMatchObject({ code: 0 });
      const ds = await openDataSource(database);
      try {
        expect(await ds.manager.findOneBy(User, { id: ROOT_USER_ID })).toMatchObject({ login: 'automation', email: 'automation@john-doe.xyz' });
        expect(await ds.manager.count(User)).toBe(11);
        expect(await ds.manager.count(Organization)).toBe(6);
      } finally {
        await ds.destroy();
      }
    });
  });

  describe('without credentials and without a terminal', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase();
    });
    afterAll(() => database.drop());

    it('fails with exit code 1 and says how to pass them, instead of waiting for input', async () => {
      const run = await runSeed(database, []);

      expect(run.code).toBe(1);
      expect(run.stderr).toContain('pass --login or set SEED_ROOT_LOGIN');
      const ds = await openDataSource(database);
      try {
        expect(await ds.manager.count(User)).toBe(0);
        expect(await ds.manager.count(Organization)).toBe(0);
      } finally {
        await ds.destroy();
      }
    });
  });
});

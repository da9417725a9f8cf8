import { hash } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { DataSource } from 'typeorm';
import { Organization, OrganizationKind } from '../../src/organizations/organization.entity';
import { OrganizationMapping } from '../../src/tenant-mapping/organization-mapping.entity';
import { User } from '../../src/users/user.entity';
import { createOrganization, createTree, createUser } from '../factories/organizations';
import {
  createPythonSample,
  PythonSample,
  SAMPLE_CREATE_TABLES,
  SAMPLE_CUSTOMER,
  SAMPLE_DC_URL,
  SAMPLE_ROOT_ORGANIZATION_ID,
  SAMPLE_ROOT_USER_ID,
  writeSampleDb,
} from '../factories/python-sample';
import { createTestApp } from '../setup/create-test-app';
import { cyberAppAuth, envelope, responseType } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';
import { createTestDatabase, TEST_DB, TestDatabase } from '../setup/test-database';
import { openDataSource, ProcessOutcome, runCli } from './cli-process';

// Each import is a fresh Node process under ts-node: seconds apiece.
jest.setTimeout(240_000);

const CONNECTOR = { client_id: 'f1e2d3c4-0000-4000-8000-00000000c11e', client_secret: 'se#cret value', dc_url: SAMPLE_DC_URL };

/** `npm run import-sample -- …`, with the env file in `dir` (never the developer's .env). */
function runImport(database: TestDatabase, envFile: string, args: string[]): Promise<ProcessOutcome> {
  return runCli(database, ['import-sample', ...args], { ENV_FILE: envFile });
}

/** A migrated, empty gateway database (as every command leaves it). */
async function migratedDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  const migrate = await runCli(database, ['migrate']);
  expect(migrate).toMatchObject({ code: 0 });
  return database;
}

/** The sample's rows as the gateway stores them. */
function expectedRows(sample: PythonSample) {
  return {
    organizations: sample.organizations
      .map((o) => ({ id: o.id, parentId: o.parent_id, name: o.name, kind: o.kind === SAMPLE_CUSTOMER ? OrganizationKind.Customer : OrganizationKind.Partner }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    users: sample.users
      .map((u) => ({ id: u.id, login: u.login?.toLowerCase(), name: u.name, email: u.email, password: u.password, organizationId: u.organization_id }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    mappings: sample.mappings
      .map((m) => ({ organizationId: m.organization_id, acronisTenantId: m.acronis_tenant_id, acronisDcUrl: m.acronis_dc_url }))
      .sort((a, b) => a.organizationId.localeCompare(b.organizationId)),
  };
}

async function storedRows(ds: DataSource) {
  const users = await ds.manager.find(User, { order: { id: 'ASC' } });
  const mappings = await ds.manager.find(OrganizationMapping, { order: { organizationId: 'ASC' } });
  return {
    organizations: await ds.manager.find(Organization, { order: { id: 'ASC' } }),
    users: users.map(({ id, login, name, email, password, organizationId }) => ({ id, login, name, email, password, organizationId })),
    mappings: mappings.map(({ organizationId, acronisTenantId, acronisDcUrl }) => ({ organizationId, acronisTenantId, acronisDcUrl })),
  };
}

describe(`npm run import-sample on ${TEST_DB}`, () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'import-sample-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('the Python sample into an empty gateway', () => {
    const ENV_BEFORE = '# my settings\r\nPORT=8080\r\nACRONIS_CLIENT_ID=\r\nLOG_LEVEL=warn # keep this\r\n';
    let database: TestDatabase;
    let ds: DataSource;
    let sample: PythonSample;
    let envFile: string;
    let connector: string;
    let first: ProcessOutcome;

    beforeAll(async () => {
      const here = mkdtempSync(join(dir, 'first-'));
      // A login with capitals, as create_db.py keeps the root login typed at its prompt.
      sample = await createPythonSample(here, (s) => (s.users[10].login = 'Mia.Moore'));
      envFile = join(here, '.env');
      writeFileSync(envFile, ENV_BEFORE, { mode: 0o640 });
      connector = join(here, 'connector.json');
      writeFileSync(connector, JSON.stringify(CONNECTOR, null, 4));
      database = await createTestDatabase();
      first = await runImport(database, envFile, ['--db', sample.path, '--connector', connector]);
      ds = await openDataSource(database);
    });
    afterAll(async () => {
      await ds?.destroy();
      await database.drop();
    });

    it('imports every organization, user (hash as it was) and tenant mapping, and says so', async () => {
      expect(first).toMatchObject({ code: 0, stderr: '' });
      expect(first.stdout).toContain('organizations: 6 created, 0 updated, 0 unchanged');
      expect(first.stdout).toContain('users: 11 created, 0 updated, 0 unchanged (2 of 11 with a password, kept as it was hashed)');
      expect(first.stdout).toContain('tenant mappings: 4 created, 0 updated, 0 unchanged');
      expect(first.stdout).toContain('24 changes.');
      expect(first.stdout).toContain('note: logins are kept lower-case: "Mia.Moore" → "mia.moore"');
      expect(await storedRows(ds)).toEqual(expectedRows(sample));
    });

    it("writes connector.json's credentials to the env file and leaves every other line as it was", () => {
      expect(first.stdout).toContain(`connector credentials: ACRONIS_CLIENT_ID, ACRONIS_CLIENT_SECRET, ACRONIS_DC_URL written to ${envFile}`);
      expect(first.stdout).not.toContain(CONNECTOR.client_secret);
      expect(readFileSync(envFile, 'utf8')).toBe(
        `# my settings\r\nPORT=8080\r\nACRONIS_CLIENT_ID=${CONNECTOR.client_id}\r\nLOG_LEVEL=warn # keep this\r\n` +
          `ACRONIS_CLIENT_SECRET='${CONNECTOR.client_secret}'\r\nACRONIS_DC_URL=${SAMPLE_DC_URL}\r\n`,
      );
      expect(statSync(envFile).mode & 0o777).toBe(0o640);
    });

    it('lets the users sign in with their original passwords through the app: callbacks and the REST API', async () => {
      const t = await createTestApp({}, database);
      try {
        const root = await request(t.server)
          .post('/callback')
          .set('X-CyberApp-Auth', cyberAppAuth('admin', sample.passwords.admin))
          .send(envelope('enablement.read'))
          .expect(200);
        expect(root.body.type).toBe(responseType('a.p.enablement.read.ok.v1.0'));
        expect(root.body.payload).toEqual({ vendor_tenant_id: SAMPLE_ROOT_ORGANIZATION_ID, acronis_tenant_id: sample.mappings[0].acronis_tenant_id });

        // A hash argon2-cffi itself made, imported unchanged.
        const customer = sample.cffiCustomer;
        const own = await request(t.server)
          .post('/callback')
          .set('X-CyberApp-Auth', cyberAppAuth(customer.login, sample.passwords[customer.login]))
          .send(envelope('enablement.read'))
          .expect(200);
        expect(own.body.payload).toEqual({ vendor_tenant_id: customer.organizationId, acronis_tenant_id: customer.tenantId });

        await request(t.server).post('/callback').set('X-CyberApp-Auth', cyberAppAuth('admin', 'not the password')).send(envelope('enablement.read')).expect(401);
        // The sample's password-less users cannot sign in, here as there.
        await request(t.server).post('/callback').set('X-CyberApp-Auth', cyberAppAuth('sophia.miller', '')).send(envelope('enablement.read')).expect(401);

        const api = await request(t.server).get('/api/webhooks').set('X-CyberApp-Auth', cyberAppAuth('admin', sample.passwords.admin)).expect(200);
        expect(api.body.items).toEqual([]);

        // The mappings serve the callbacks: the customer's users, by its Acronis tenant.
        const users = await request(t.server)
          .post('/callback')
          .set('X-CyberApp-Auth', cyberAppAuth('admin', sample.passwords.admin))
          .send(envelope('users_read', {}, { tenantId: customer.tenantId }))
          .expect(200);
        expect(users.body.payload.items).toEqual([{ id: sample.users[0].id, name: 'Emma Wilson', email: 'emma.wilson@john-doe.xyz' }]);

        const mapping = await request(t.server)
          .post('/callback')
          .set('X-CyberApp-Auth', cyberAppAuth('admin', sample.passwords.admin))
          .send(envelope('tenant_mapping.read'))
          .expect(200);
        // Every customer, the mapped ones with their tenant (one mapping recorded no data center: it stands for any).
        const mapped = sample.mappings.slice(1).map((m) => ({ vendor_tenant_id: m.organization_id, acronis_tenant_id: m.acronis_tenant_id }));
        expect(mapping.body.payload.items).toEqual(expect.arrayContaining(mapped));
        expect(mapping.body.payload.items).toHaveLength(5);
      } finally {
        await t.close();
      }
    });

    it('changes nothing when run again, and says 0 changes', async () => {
      const before = await snapshot(ds);
      const envBefore = statSync(envFile);

      const again = await runImport(database, envFile, ['--db', sample.path, '--connector', connector]);

      expect(again).toMatchObject({ code: 0, stderr: '' });
      expect(again.stdout).toContain('organizations: 0 created, 0 updated, 6 unchanged');
      expect(again.stdout).toContain('users: 0 created, 0 updated, 11 unchanged');
      expect(again.stdout).toContain('tenant mappings: 0 created, 0 updated, 4 unchanged');
      expect(again.stdout).toContain(`connector credentials: already in ${envFile}`);
      expect(again.stdout).toContain('0 changes: everything was already imported.');
      expect(await snapshot(ds)).toEqual(before);
      const envAfter = statSync(envFile);
      expect({ ino: envAfter.ino, mtime: envAfter.mtimeMs }).toEqual({ ino: envBefore.ino, mtime: envBefore.mtimeMs });
    });
  });

  describe('--dry-run', () => {
    let database: TestDatabase;
    afterAll(() => database.drop());

    it('reports what it would create and writes nothing: no row, no env file', async () => {
      database = await migratedDatabase();
      const here = mkdtempSync(join(dir, 'dry-'));
      // One more customer mapped, from a data center outside ACRONIS_DC_ALLOWED_HOSTS.
      const sample = await createPythonSample(here, (s) =>
        s.mappings.push({ organization_id: s.organizations[5].id, acronis_tenant_id: randomUUID(), acronis_dc_url: 'https://dc.example.test/' }),
      );
      writeFileSync(join(here, 'connector.json'), JSON.stringify(CONNECTOR));
      const envFile = join(here, '.env');
      const ds = await openDataSource(database);
      try {
        const before = await snapshot(ds);

        const run = await runCli(database, ['import-sample', '--db', sample.path, '--connector', join(here, 'connector.json'), '--dry-run'], {
          ENV_FILE: envFile,
          ACRONIS_CLIENT_ID: 'set-in-the-environment',
        });

        expect(run).toMatchObject({ code: 0, stderr: '' });
        expect(run.stdout).toContain('Dry run');
        expect(run.stdout).toContain('organizations: 6 to create, 0 to update, 0 unchanged');
        expect(run.stdout).toContain('users: 11 to create');
        expect(run.stdout).toContain('tenant mappings: 5 to create');
        expect(run.stdout).toContain(`connector credentials: ACRONIS_CLIENT_ID, ACRONIS_CLIENT_SECRET, ACRONIS_DC_URL to write to ${envFile}`);
        expect(run.stdout).toContain(`warning: ACRONIS_CLIENT_ID is set in the environment, which wins over ${envFile}: unset it for the imported value to apply`);
        expect(run.stdout).toContain(
          `warning: tenant mapping of organization ${sample.organizations[5].id}: datacenter_url host dc.example.test is not an allowed Acronis data center (ACRONIS_DC_ALLOWED_HOSTS); the connector will not send there until it is allowed`,
        );
        expect(run.stdout).toContain('25 changes would be made; nothing was written.');
        expect(await snapshot(ds)).toEqual(before);
        expect(existsSync(envFile)).toBe(false);
      } finally {
        await ds.destroy();
      }
    });
  });

  describe('refusals: nothing is written', () => {
    const ENV_BEFORE = 'PORT=8080\nACRONIS_CLIENT_ID=\n';
    let database: TestDatabase;
    let ds: DataSource;
    let here: string;
    let envFile: string;
    let connector: string;
    let sample: PythonSample;

    beforeAll(async () => {
      database = await migratedDatabase();
      ds = await openDataSource(database);
      await createTree(ds);
      here = mkdtempSync(join(dir, 'refused-'));
      sample = await createPythonSample(here);
      envFile = join(here, '.env');
      writeFileSync(envFile, ENV_BEFORE);
      connector = join(here, 'connector.json');
      writeFileSync(connector, JSON.stringify(CONNECTOR));
    });
    afterAll(async () => {
      await ds?.destroy();
      await database.drop();
    });

    /** Runs the import, expects exit code 1 and no change to the data or the env file; returns stderr. */
    async function refused(args: string[]): Promise<string> {
      const before = await snapshot(ds);
      const run = await runImport(database, envFile, args);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(await snapshot(ds)).toEqual(before);
      expect(readFileSync(envFile, 'utf8')).toBe(ENV_BEFORE);
      return run.stderr;
    }

    it('refuses a SQLite file without the sample\'s schema, naming every missing table and column', async () => {
      const path = join(here, 'other.db');
      await writeSampleDb(path, ['CREATE TABLE users (id VARCHAR(36) PRIMARY KEY, login TEXT)', 'CREATE TABLE organizations (id VARCHAR(36) PRIMARY KEY, name TEXT)'], {
        organizations: [],
        users: [],
        mappings: [],
      });

      const stderr = await refused(['--db', path, '--connector', connector]);

      expect(stderr).toBe(
        `${path} does not have the Python sample's schema (create_db.py); it lacks column organizations.parent_id, column organizations.kind, ` +
          'column users.name, column users.email, column users.password, column users.organization_id, ' +
          'table organizations_mapping (organization_id, acronis_tenant_id, acronis_dc_url). Nothing was written.\n',
      );
    });

    it('refuses a file that is not a SQLite database, and one that does not exist', async () => {
      expect(await refused(['--db', connector])).toContain(`${connector} is not a SQLite database the gateway can read`);
      expect(await refused(['--db', join(here, 'missing.db')])).toContain('missing.db does not exist');
      expect(await refused([])).toContain('--db <path> is required');
    });

    it('refuses rows the gateway cannot hold, listing each, rather than importing the rest', async () => {
      const bad = await createPythonSample(
        here,
        (s) => {
          s.organizations[1].kind = 2;
          s.organizations[2].name = null;
          s.users[9].email = null;
          s.users[6].password = 'pbkdf2:sha256:260000$salt$hash';
          s.users[7].login = 'Admin';
          s.users[8].organization_id = randomUUID();
          s.mappings[1].acronis_tenant_id = 'tenant-1';
          s.mappings[2].acronis_dc_url = 'https://user:pw@eu8-cloud.acronis.com';
        },
        'bad.db',
      );

      const stderr = await refused(['--db', bad.path]);

      expect(stderr).toContain(`${bad.path} holds data the gateway cannot import as it is; nothing was written.`);
      expect(stderr).toContain(`organization "${bad.organizations[1].id}": kind must be 0 (partner) or 1 (customer) (is the number 2)`);
      expect(stderr).toContain(`organization "${bad.organizations[2].id}": name must be text of at most 255 characters (is NULL)`);
      expect(stderr).toContain(`user "${bad.users[9].id}": email must be text of at most 255 characters (is NULL)`);
      expect(stderr).toContain(`user "${bad.users[6].id}": password is neither NULL nor an argon2 hash`);
      const same = [
        { id: SAMPLE_ROOT_USER_ID, login: 'admin' },
        { id: bad.users[7].id, login: 'Admin' },
      ].sort((a, b) => a.id.localeCompare(b.id));
      expect(stderr).toContain(`users "${same[0].id}", "${same[1].id}": logins "${same[0].login}", "${same[1].login}" are the same ignoring case`);
      expect(stderr).toContain(`user "${bad.users[8].id}": organization_id "${bad.users[8].organization_id}" is no organization of the file`);
      expect(stderr).toContain('acronis_tenant_id must be a UUID (is "tenant-1")');
      expect(stderr).toContain('acronis_dc_url "https://user:pw@eu8-cloud.acronis.com": must not carry credentials');
    });

    it('refuses a column the sample does not have when it holds data', async () => {
      const path = join(here, 'extra.db');
      const [users, ...rest] = SAMPLE_CREATE_TABLES;
      await writeSampleDb(path, [users.replace('organization_id VARCHAR(36)', 'phone VARCHAR(32), organization_id VARCHAR(36)'), ...rest], {
        organizations: sample.organizations,
        users: sample.users.map((u, i) => (i === 0 ? { ...u, phone: '+1 555 0100' } : u)),
        mappings: [],
      });

      expect(await refused(['--db', path])).toContain('column users.phone is not in the sample\'s schema and holds values in 1 rows; the gateway has nowhere to keep them');
    });

    it('refuses a malformed connector.json, listing every problem, before touching the database', async () => {
      const notJson = join(here, 'not-json.json');
      writeFileSync(notJson, '{"client_id": "a",');
      expect(await refused(['--db', sample.path, '--connector', notJson])).toMatch(/not-json\.json is not JSON \(.+\); the sample's connector\.json is \{"client_id"/);

      const wrong = join(here, 'wrong.json');
      writeFileSync(wrong, JSON.stringify({ client_id: 42, client_secret: '<your_client_secret>', region: 'eu' }));
      const stderr = await refused(['--db', sample.path, '--connector', wrong]);
      expect(stderr).toBe(
        `${wrong} is not a usable connector.json; nothing was written:\n` +
          "  - unknown keys region (the sample's run_connector.py refuses them too; the gateway has nowhere to keep them)\n" +
          '  - client_id must be a non-empty string\n' +
          '  - client_secret is still the placeholder of connector.example.json (<your_client_secret>)\n' +
          '  - dc_url is missing\n',
      );
    });
  });

  describe('a gateway that already holds other values', () => {
    let database: TestDatabase;
    let ds: DataSource;
    let here: string;
    let envFile: string;
    let sample: PythonSample;
    let connector: string;

    beforeAll(async () => {
      database = await migratedDatabase();
      ds = await openDataSource(database);
      here = mkdtempSync(join(dir, 'conflicts-'));
      sample = await createPythonSample(here);
      envFile = join(here, '.env');
      writeFileSync(envFile, 'ACRONIS_CLIENT_ID=another-client\n');
      connector = join(here, 'connector.json');
      writeFileSync(connector, JSON.stringify(CONNECTOR));
    });
    afterAll(async () => {
      await ds?.destroy();
      await database.drop();
    });

    it('refuses even with --force a login that belongs to another user of the gateway', async () => {
      const other = await createOrganization(ds, { name: 'Gateway Partner' });
      const holder = await createUser(ds, { organizationId: other.id, login: 'emma.wilson', password: 'x' });
      const before = await snapshot(ds);

      const run = await runImport(database, envFile, ['--db', sample.path, '--force']);

      expect(run.code).toBe(1);
      expect(run.stderr).toContain('--force does not change this');
      expect(run.stderr).toContain(`login "emma.wilson" of the sample's user ${sample.users[0].id} belongs to the gateway's user ${holder.id}`);
      expect(await snapshot(ds)).toEqual(before);
      await ds.manager.delete(User, { id: holder.id });
    });

    it('lists every differing row and variable without --force, writing nothing; --force replaces them with the sample\'s', async () => {
      // Imported once, then changed in the gateway: the root's name and password, and one customer's tenant moved to a gateway organization.
      const seeded = await runImport(database, envFile, ['--db', sample.path]);
      expect(seeded).toMatchObject({ code: 0 });
      await ds.manager.update(Organization, { id: SAMPLE_ROOT_ORGANIZATION_ID }, { name: 'Renamed Inc.' });
      await ds.manager.update(User, { id: SAMPLE_ROOT_USER_ID }, { password: await hash('changed', { memoryCost: 4096, timeCost: 1, parallelism: 1 }) });
      const moved = sample.mappings[1];
      await ds.manager.delete(OrganizationMapping, { organizationId: moved.organization_id });
      const holder = (await ds.manager.findOneByOrFail(Organization, { name: 'Gateway Partner' })).id;
      await ds.manager.insert(OrganizationMapping, { organizationId: holder, acronisTenantId: moved.acronis_tenant_id ?? '', acronisDcUrl: SAMPLE_DC_URL });
      const before = await snapshot(ds);

      const run = await runImport(database, envFile, ['--db', sample.path, '--connector', connector]);

      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        "The gateway already holds other values for these rows of the sample; nothing was written. Run again with --force to replace them with the sample's:\n" +
          `  - organization ${SAMPLE_ROOT_ORGANIZATION_ID} ("John Doe Inc."): name differ\n` +
          `  - user ${SAMPLE_ROOT_USER_ID} ("admin"): password differ\n` +
          `  - tenant ${moved.acronis_tenant_id} is mapped to gateway organization ${holder}; the sample maps it to ${moved.organization_id}\n` +
          `  - ACRONIS_CLIENT_ID has another value in ${envFile}\n`,
      );
      expect(await snapshot(ds)).toEqual(before);
      expect(readFileSync(envFile, 'utf8')).toBe('ACRONIS_CLIENT_ID=another-client\n');

      const forced = await runImport(database, envFile, ['--db', sample.path, '--connector', connector, '--force']);

      expect(forced).toMatchObject({ code: 0, stderr: '' });
      expect(forced.stdout).toContain('organizations: 0 created, 1 updated, 5 unchanged');
      expect(forced.stdout).toContain('users: 0 created, 1 updated, 10 unchanged');
      expect(forced.stdout).toContain('tenant mappings: 1 created, 0 updated, 3 unchanged, 1 moved from another organization');
      const rows = await storedRows(ds);
      const expected = expectedRows(sample);
      expect(rows.organizations).toEqual(expect.arrayContaining(expected.organizations));
      expect(rows.users).toEqual(expected.users);
      expect(rows.mappings).toEqual(expected.mappings);
      expect(readFileSync(envFile, 'utf8')).toBe(`ACRONIS_CLIENT_ID=${CONNECTOR.client_id}\nACRONIS_CLIENT_SECRET='${CONNECTOR.client_secret}'\nACRONIS_DC_URL=${SAMPLE_DC_URL}\n`);

      const again = await runImport(database, envFile, ['--db', sample.path, '--connector', connector]);
      expect(again.stdout).toContain('0 changes: everything was already imported.');
    });
  });
});

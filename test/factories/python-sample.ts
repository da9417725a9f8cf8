import { Algorithm, hash } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import fixtures from '../fixtures/argon2-cffi-hashes.json';

/**
 * The tables of the Acronis CyberApp Python sample's vendor.db, exactly as its create_db.py
 * creates them (acronis/cyberapp-sample-components, MIT licence), index included.
 */
export const SAMPLE_CREATE_TABLES = [
  'CREATE TABLE IF NOT EXISTS users (id VARCHAR(36) NOT NULL PRIMARY KEY, login NVARCHAR(255) UNIQUE, name NVARCHAR(255), email VARCHAR(255), password VARCHAR(255), organization_id VARCHAR(36) REFERENCES organizations(id) ON DELETE CASCADE) WITHOUT ROWID',
  'CREATE TABLE IF NOT EXISTS organizations (id VARCHAR(36) NOT NULL PRIMARY KEY, parent_id VARCHAR(36) REFERENCES organizations(id) ON DELETE CASCADE, name VARCHAR(255), kind TINYINT) WITHOUT ROWID',
  'CREATE TABLE IF NOT EXISTS organizations_mapping (organization_id VARCHAR(36) PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE, acronis_tenant_id VARCHAR(36) UNIQUE, acronis_dc_url VARCHAR(64)) WITHOUT ROWID',
  'CREATE INDEX IF NOT EXISTS organization_parent_idx ON organizations(parent_id)',
];

/** The sample's constants.py. */
export const SAMPLE_ROOT_ORGANIZATION_ID = 'b9c1a52c-280e-45cd-be77-ba927fc42950';
export const SAMPLE_ROOT_USER_ID = 'dea06122-1851-48f2-8867-fc62048e5cdd';

/** The sample's OrganizationKind (datatypes.py). */
export const SAMPLE_PARTNER = 0;
export const SAMPLE_CUSTOMER = 1;

export const SAMPLE_DC_URL = 'https://eu8-cloud.acronis.com';

/**
 * A password hash as the sample stores it: argon2-cffi's PasswordHasher() defaults since 21.2
 * (RFC 9106 low-memory profile: argon2id, m=65536, t=3, p=4, 16-byte salt, 32-byte hash).
 */
export function cffiHash(password: string): Promise<string> {
  return hash(password, { algorithm: Algorithm.Argon2id, memoryCost: 65536, timeCost: 3, parallelism: 4, outputLen: 32 });
}

export interface SampleOrgRow {
  id: string;
  parent_id: string | null;
  name: string | null;
  kind: number | string | null;
}

export interface SampleUserRow {
  id: string;
  login: string | null;
  name: string | null;
  email: string | null;
  password: string | null;
  organization_id: string | null;
}

export interface SampleMappingRow {
  organization_id: string;
  acronis_tenant_id: string | null;
  acronis_dc_url: string | null;
}

export interface PythonSample {
  path: string;
  organizations: SampleOrgRow[];
  users: SampleUserRow[];
  mappings: SampleMappingRow[];
  /** Original passwords by login, for the users that have one. */
  passwords: Record<string, string>;
  root: { organizationId: string; login: string };
  /** The customer whose user signs in with a hash made by argon2-cffi itself (the fixture). */
  cffiCustomer: { organizationId: string; login: string; tenantId: string };
}

const CONTACTS = ['Emma Wilson', 'Liam Johnson', 'Olivia Brown', 'Noah Davis', 'Ava Martinez'];
const COLLEAGUES = ['Sophia Miller', 'James Anderson', 'Isabella Taylor', 'Lucas Thomas', 'Mia Moore'];
const loginOf = (name: string) => name.toLowerCase().replace(' ', '.');

/**
 * A vendor.db as the sample leaves it after some use: create_db.py's data (the root partner
 * "John Doe Inc." with its root user and five colleagues, five customers with one user each),
 * then what its callbacks write: the root mapped by enablement.write, three customers mapped by
 * tenant_mapping.write (one without a data center). The root user's password is hashed as
 * argon2-cffi does; one customer user has a hash argon2-cffi itself made (test/fixtures).
 * `change` may alter the rows before they are written.
 */
export async function createPythonSample(dir: string, change: (sample: PythonSample) => void = () => undefined, file = 'vendor.db'): Promise<PythonSample> {
  const rootPassword = 'root-password';
  const customers = CONTACTS.map((name) => ({ id: randomUUID(), name }));
  const sample: PythonSample = {
    path: join(dir, file),
    organizations: [
      { id: SAMPLE_ROOT_ORGANIZATION_ID, parent_id: null, name: 'John Doe Inc.', kind: SAMPLE_PARTNER },
      ...customers.map((c) => ({ id: c.id, parent_id: SAMPLE_ROOT_ORGANIZATION_ID, name: `${c.name} Inc.`, kind: SAMPLE_CUSTOMER })),
    ],
    users: [
      ...customers.map((c) => ({ id: randomUUID(), login: loginOf(c.name), name: c.name, email: `${loginOf(c.name)}@john-doe.xyz`, password: null, organization_id: c.id })),
      { id: SAMPLE_ROOT_USER_ID, login: 'admin', name: 'John Doe', email: 'admin@john-doe.xyz', password: await cffiHash(rootPassword), organization_id: SAMPLE_ROOT_ORGANIZATION_ID },
      ...COLLEAGUES.map((name) => ({ id: randomUUID(), login: loginOf(name), name, email: `${loginOf(name)}@john-doe.xyz`, password: null, organization_id: SAMPLE_ROOT_ORGANIZATION_ID })),
    ],
    mappings: [
      { organization_id: SAMPLE_ROOT_ORGANIZATION_ID, acronis_tenant_id: randomUUID(), acronis_dc_url: SAMPLE_DC_URL },
      { organization_id: customers[0].id, acronis_tenant_id: randomUUID(), acronis_dc_url: SAMPLE_DC_URL },
      { organization_id: customers[1].id, acronis_tenant_id: randomUUID(), acronis_dc_url: SAMPLE_DC_URL },
      { organization_id: customers[2].id, acronis_tenant_id: randomUUID(), acronis_dc_url: null },
    ],
    passwords: { admin: rootPassword, [loginOf(CONTACTS[0])]: fixtures.password },
    root: { organizationId: SAMPLE_ROOT_ORGANIZATION_ID, login: 'admin' },
    cffiCustomer: { organizationId: customers[0].id, login: loginOf(CONTACTS[0]), tenantId: '' },
  };
  // The 21.1 defaults (m=102400, t=2, p=8), made by argon2-cffi itself.
  sample.users[0].password = fixtures.hashes[0].hash;
  sample.cffiCustomer.tenantId = sample.mappings[1].acronis_tenant_id ?? '';
  change(sample);
  await writeSampleDb(sample.path, SAMPLE_CREATE_TABLES, sample);
  return sample;
}

/** Writes the rows into a new SQLite file with the given table definitions, in WAL mode as the sample's sqlite_connect sets it up. */
export async function writeSampleDb(path: string, createTables: string[], rows: Pick<PythonSample, 'organizations' | 'users' | 'mappings'>): Promise<void> {
  const db = await new DataSource({
    type: 'better-sqlite3',
    database: path,
    prepareDatabase: (raw: { pragma: (source: string) => unknown }) => {
      raw.pragma('journal_mode = WAL');
    },
  }).initialize();
  try {
    // Off, unlike the sample: a test may want rows its foreign keys would refuse (the importer must not trust them).
    await db.query('PRAGMA foreign_keys = OFF');
    for (const statement of createTables) await db.query(statement);
    const insert = async (table: string, row: object) => {
      const values = Object.values(row);
      await db.query(`INSERT INTO ${table} (${Object.keys(row).join(', ')}) VALUES (${values.map(() => '?').join(', ')})`, values);
    };
    for (const row of rows.organizations) await insert('organizations', row);
    for (const row of rows.users) await insert('users', row);
    for (const row of rows.mappings) await insert('organizations_mapping', row);
  } finally {
    await db.destroy();
  }
}

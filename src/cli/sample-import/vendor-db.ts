import { existsSync, statSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { UUID_SHAPE } from '../../callbacks/callback-envelope';
import { datacenterUrlShapeProblem, normalizeDatacenterUrl } from '../../connector/datacenter-policy';
import { OrganizationKind } from '../../organizations/organization.entity';

/**
 * The tables and columns of the Python sample's `vendor.db`, as its `create_db.py` creates them
 * (acronis/cyberapp-sample-components):
 *   organizations (id, parent_id, name, kind TINYINT: 0 partner, 1 customer)
 *   users (id, login, name, email, password: argon2-cffi PHC string or NULL, organization_id)
 *   organizations_mapping (organization_id, acronis_tenant_id, acronis_dc_url)
 */
export const SAMPLE_SCHEMA = {
  organizations: ['id', 'parent_id', 'name', 'kind'],
  users: ['id', 'login', 'name', 'email', 'password', 'organization_id'],
  organizations_mapping: ['organization_id', 'acronis_tenant_id', 'acronis_dc_url'],
} as const;

type SampleTable = keyof typeof SAMPLE_SCHEMA;

/** The sample's `OrganizationKind` (datatypes.py): an IntEnum. */
const SAMPLE_KINDS: Record<number, OrganizationKind> = { 0: OrganizationKind.Partner, 1: OrganizationKind.Customer };

/** Our column widths (the sample's SQLite does not enforce its own). */
const ID_MAX = 36;
const TEXT_MAX = 255;

/** A login as the gateway keeps them (and as `user add` accepts them): no ":" (it ends the login in X-CyberApp-Auth), no white space. */
const LOGIN = /^[^:\s]{1,255}$/;

/** An argon2 PHC string as argon2-cffi writes it (and @node-rs/argon2 verifies): `$argon2id$v=19$m=…,t=…,p=…$salt$hash`. */
const ARGON2_PHC = /^\$argon2(?:id|i|d)\$v=(?:16|19)\$m=\d{1,10},t=\d{1,10},p=\d{1,3}\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{6,}$/;

/** Problems listed before the rest are only counted. */
const LISTED = 50;
export interface SampleOrganization {
  id: string;
  parentId: string | null;
  name: string;
  kind: OrganizationKind;
}

export interface SampleUser {
  id: string;
  /** Lower-cased, as the gateway stores logins (the sample lower-cases the login it looks up). */
  login: string;
  name: string;
  email: string;
  password: string | null;
  organizationId: string;
}

export interface SampleMapping {
  organizationId: string;
  /** Lower-cased, as the gateway stores tenant ids. */
  acronisTenantId: string;
  /** Without a trailing slash, as the gateway stores data center URLs. */
  acronisDcUrl: string | null;
}

export interface SampleData {
  organizations: SampleOrganization[];
  users: SampleUser[];
  mappings: SampleMapping[];
  /** Things worth saying that change nothing (lower-cased logins, tables not imported). */
  notes: string[];
}

/** The file cannot be imported; the message says why. Nothing has been written. */
export class SampleImportRefused extends Error {}

/** A refusal: the heading, then the problems (the first LISTED of them; the rest counted). */
export function refusal(heading: string, problems: string[]): SampleImportRefused {
  const lines = problems.slice(0, LISTED).map((p) => `  - ${p}`);
  if (problems.length > LISTED) lines.push(`  … and ${problems.length - LISTED} more`);
  return new SampleImportRefused(`${heading}\n${lines.join('\n')}`);
}

type Row = Record<string, unknown>;

/** A value of the file as a message shows it. */
function show(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint') return `the number ${value}`;
  if (Buffer.isBuffer(value)) return `a blob of ${value.length} bytes`;
  return typeof value;
}
const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Opens `vendor.db` read-only (WAL or not; the sample's server may keep running). */
async function open(path: string): Promise<DataSource> {
  if (!existsSync(path)) throw new SampleImportRefused(`${path} does not exist: --db names the Python sample's SQLite database (vendor.db). Nothing was written.`);
  if (!statSync(path).isFile()) throw new SampleImportRefused(`${path} is not a file: --db names the Python sample's SQLite database (vendor.db). Nothing was written.`);
  const source = new DataSource({ type: 'better-sqlite3', database: path, readonly: true, fileMustExist: true });
  try {
    await source.initialize();
    await source.query('SELECT count(*) FROM sqlite_master');
    return source;
  } catch (error) {
    if (source.isInitialized) await source.destroy();
    throw new SampleImportRefused(`${path} is not a SQLite database the gateway can read (${(error as Error).message}). Nothing was written.`);
  }
}

/**
 * Reads and checks the sample's `vendor.db`: the schema first (every table and column of
 * create_db.py), then every row. Anything the gateway cannot hold as it is (a NULL where the
 * gateway needs a value, an unknown kind, a hash it cannot verify, a column the sample does not
 * have that holds data, a dangling reference) refuses the whole file with a list of what and
 * where, rather than importing part of it.
 */
export async function readVendorDb(path: string): Promise<SampleData> {
  const source = await open(path);
  try {
    const notes: string[] = [];
    const tables = new Set((await source.query<Row[]>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)).map((r) => String(r.name)));
    if (tables.has('migrations') && tables.has('callback_requests')) {
      throw new SampleImportRefused(`${path} is a CyberApp Gateway database, not the Python sample's vendor.db. Nothing was written.`);
    }
    const missing: string[] = [];
    const extraColumns = new Map<SampleTable, string[]>();
    for (const [table, columns] of Object.entries(SAMPLE_SCHEMA) as Array<[SampleTable, readonly string[]]>) {
      if (!tables.has(table)) {
        missing.push(`table ${table} (${columns.join(', ')})`);
        continue;
      }
      const present = (await source.query<Row[]>(`PRAGMA table_info(${quoteIdentifier(table)})`)).map((r) => String(r.name));
      missing.push(...columns.filter((c) => !present.includes(c)).map((c) => `column ${table}.${c}`));
      extraColumns.set(
        table,
        present.filter((c) => !columns.includes(c)),
      );
    }
    if (missing.length > 0) {
      throw new SampleImportRefused(
        `${path} does not have the Python sample's schema (create_db.py); it lacks ${missing.join(', ')}. Nothing was written.`,
      );
    }
    const others = [...tables].filter((t) => !(t in SAMPLE_SCHEMA)).sort();
    for (const table of others) {
      const [{ n }] = await source.query<Array<{ n: number }>>(`SELECT count(*) AS n FROM ${quoteIdentifier(table)}`);
      notes.push(`table ${table} (${n} rows) is not part of the sample's schema and was not read`);
    }

    const problems: string[] = [];
    for (const [table, columns] of extraColumns) {
      for (const column of columns) {
        const [{ n }] = await source.query<Array<{ n: number }>>(`SELECT count(*) AS n FROM ${quoteIdentifier(table)} WHERE ${quoteIdentifier(column)} IS NOT NULL`);
        if (n > 0) problems.push(`column ${table}.${column} is not in the sample's schema and holds values in ${n} rows; the gateway has nowhere to keep them`);
        else notes.push(`column ${table}.${column} is not in the sample's schema; it holds no values`);
      }
    }

    const orgRows = await source.query<Row[]>('SELECT id, parent_id, name, kind FROM organizations ORDER BY id');
    const organizations = checkOrganizations(orgRows, problems);
    // A row naming an organization that is in the file but refused is not reported again.
    const orgIds = { valid: new Map(organizations.map((o) => [o.id, o])), all: new Set(orgRows.map((r) => r.id)) };
    const users = checkUsers(await source.query<Row[]>('SELECT id, login, name, email, password, organization_id FROM users ORDER BY id'), orgIds, problems, notes);
    const mappings = checkMappings(await source.query<Row[]>('SELECT organization_id, acronis_tenant_id, acronis_dc_url FROM organizations_mapping ORDER BY organization_id'), orgIds, problems);
    if (problems.length > 0) {
      throw refusal(`${path} holds data the gateway cannot import as it is; nothing was written. Correct these rows (or remove them) and run again:`, problems);
    }
    return { organizations, users, mappings, notes };
  } finally {
    await source.destroy();
  }
}

function text(value: unknown, max: number): string | null {
  return typeof value === 'string' && value.length <= max ? value : null;
}

function checkOrganizations(rows: Row[], problems: string[]): SampleOrganization[] {
  const out: SampleOrganization[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const id = text(row.id, ID_MAX);
    const where = `organization ${show(row.id)}`;
    const rowProblems: string[] = [];
    if (id === null || id === '') rowProblems.push(`id must be text of 1 to ${ID_MAX} characters`);
    else if (seen.has(id)) rowProblems.push('id appears twice');
    if (row.parent_id !== null && (text(row.parent_id, ID_MAX) ?? '') === '') rowProblems.push(`parent_id must be NULL or an id (is ${show(row.parent_id)})`);
    if (text(row.name, TEXT_MAX) === null) rowProblems.push(`name must be text of at most ${TEXT_MAX} characters (is ${show(row.name)})`);
    const kind = typeof row.kind === 'number' ? SAMPLE_KINDS[row.kind] : undefined;
    if (kind === undefined) rowProblems.push(`kind must be 0 (partner) or 1 (customer) (is ${show(row.kind)})`);
    if (rowProblems.length > 0 || id === null || kind === undefined) {
      problems.push(`${where}: ${rowProblems.join('; ')}`);
      continue;
    }
    seen.add(id);
    out.push({ id, parentId: row.parent_id as string | null, name: row.name as string, kind });
  }
  const byId = new Map(out.map((o) => [o.id, o]));
  for (const org of out) {
    if (org.parentId === null) continue;
    const parent = byId.get(org.parentId);
    if (!parent) {
      problems.push(`organization ${show(org.id)}: parent_id ${show(org.parentId)} is no organization of the file`);
      continue;
    }
    if (parent.kind === OrganizationKind.Customer) {
      problems.push(`organization ${show(org.id)}: its parent ${show(parent.id)} is a customer; in the gateway customers have no organizations below them`);
    }
    const chain = new Set([org.id]);
    for (let up: SampleOrganization | undefined = parent; up; up = up.parentId === null ? undefined : byId.get(up.parentId)) {
      if (chain.has(up.id)) {
        problems.push(`organization ${show(org.id)}: its parent_id chain goes round in a loop`);
        break;
      }
      chain.add(up.id);
    }
  }
  return out;
}

interface KnownOrganizations {
  valid: Map<string, SampleOrganization>;
  all: Set<unknown>;
}

function checkUsers(rows: Row[], organizations: KnownOrganizations, problems: string[], notes: string[]): SampleUser[] {
  const valid: Array<SampleUser & { given: string }> = [];
  const ids = new Set<string>();
  for (const row of rows) {
    const rowProblems: string[] = [];
    const id = text(row.id, ID_MAX);
    if (id === null || id === '') rowProblems.push(`id must be text of 1 to ${ID_MAX} characters`);
    else if (ids.has(id)) rowProblems.push('id appears twice');
    const login = typeof row.login === 'string' ? row.login.toLowerCase() : null;
    if (login === null || !LOGIN.test(login)) rowProblems.push(`login must be 1 to 255 characters without ":" or white space (is ${show(row.login)})`);
    for (const column of ['name', 'email'] as const) {
      if (text(row[column], TEXT_MAX) === null) rowProblems.push(`${column} must be text of at most ${TEXT_MAX} characters (is ${show(row[column])})`);
    }
    if (row.password !== null && (typeof row.password !== 'string' || row.password.length > TEXT_MAX || !ARGON2_PHC.test(row.password))) {
      rowProblems.push('password is neither NULL nor an argon2 hash (a PHC string such as argon2-cffi writes: $argon2id$v=19$m=…,t=…,p=…$…$…)');
    }
    const organizationId = typeof row.organization_id === 'string' && organizations.valid.has(row.organization_id) ? row.organization_id : null;
    if (!organizations.all.has(row.organization_id)) rowProblems.push(`organization_id ${show(row.organization_id)} is no organization of the file`);
    if (rowProblems.length > 0) problems.push(`user ${show(row.id)}: ${rowProblems.join('; ')}`);
    if (rowProblems.length > 0 || id === null || login === null || organizationId === null) continue;
    ids.add(id);
    valid.push({ id, login, given: row.login as string, name: row.name as string, email: row.email as string, password: row.password as string | null, organizationId });
  }

  // The sample's UNIQUE login is case-sensitive; the gateway's is not.
  const byLogin = new Map<string, typeof valid>();
  for (const user of valid) byLogin.set(user.login, [...(byLogin.get(user.login) ?? []), user]);
  const out: SampleUser[] = [];
  const lowered: string[] = [];
  for (const same of byLogin.values()) {
    if (same.length > 1) {
      problems.push(`users ${same.map((u) => show(u.id)).join(', ')}: logins ${same.map((u) => show(u.given)).join(', ')} are the same ignoring case, as the gateway compares them`);
      continue;
    }
    const [{ given, ...user }] = same;
    if (given !== user.login) lowered.push(`${show(given)} → ${show(user.login)}`);
    out.push(user);
  }
  if (lowered.length > 0) {
    notes.push(`logins are kept lower-case: ${lowered.join(', ')} (the sample looks logins up lower-cased, so these could not sign in there; here they can, in any case)`);
  }
  return out;
}

function checkMappings(rows: Row[], organizations: KnownOrganizations, problems: string[]): SampleMapping[] {
  const out: SampleMapping[] = [];
  const orgs = new Set<string>();
  const tenants = new Map<string, string>();
  for (const row of rows) {
    const where = `tenant mapping of organization ${show(row.organization_id)}`;
    const rowProblems: string[] = [];
    const organizationId = typeof row.organization_id === 'string' && organizations.valid.has(row.organization_id) ? row.organization_id : null;
    if (!organizations.all.has(row.organization_id)) rowProblems.push('organization_id is no organization of the file');
    else if (organizationId !== null && orgs.has(organizationId)) rowProblems.push('the organization is mapped twice');
    const tenant = typeof row.acronis_tenant_id === 'string' && UUID_SHAPE.test(row.acronis_tenant_id) ? row.acronis_tenant_id.toLowerCase() : null;
    if (tenant === null) rowProblems.push(`acronis_tenant_id must be a UUID (is ${show(row.acronis_tenant_id)})`);
    else if (tenants.has(tenant)) rowProblems.push(`acronis_tenant_id ${tenant} is mapped to organization ${show(tenants.get(tenant))} too`);
    let dcUrl: string | null = null;
    if (row.acronis_dc_url !== null) {
      const raw = text(row.acronis_dc_url, TEXT_MAX);
      const problem = raw === null ? `must be NULL or text of at most ${TEXT_MAX} characters` : datacenterUrlShapeProblem(raw);
      if (problem) rowProblems.push(`acronis_dc_url ${show(row.acronis_dc_url)}: ${problem.replace(/^datacenter_url /, '')}`);
      else dcUrl = normalizeDatacenterUrl(raw as string);
    }
    if (rowProblems.length > 0 || organizationId === null || tenant === null) {
      if (rowProblems.length > 0) problems.push(`${where}: ${rowProblems.join('; ')}`);
      continue;
    }
    orgs.add(organizationId);
    tenants.set(tenant, organizationId);
    out.push({ organizationId, acronisTenantId: tenant, acronisDcUrl: dcUrl });
  }
  return out;
}

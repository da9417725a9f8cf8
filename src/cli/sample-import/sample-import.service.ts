import { Injectable } from '@nestjs/common';
import { EntityManager, EntityTarget, In, ObjectLiteral } from 'typeorm';
import { chunks } from '../../common/chunks';
import { Organization, OrganizationKind } from '../../organizations/organization.entity';
import { OrganizationMapping } from '../../tenant-mapping/organization-mapping.entity';
import { User } from '../../users/user.entity';
import type { SampleData, SampleMapping, SampleOrganization, SampleUser } from './vendor-db';

/** Values per `IN (…)` and rows per INSERT: well under both databases' bound-parameter limits. */
const CHUNK = 500;
const ROWS_PER_INSERT = 100;

export interface RowUpdate<T> {
  before: T;
  after: T;
  /** The columns that differ (never their values: a password hash stays out of the report). */
  fields: string[];
}

export interface TablePlan<T> {
  create: T[];
  update: Array<RowUpdate<T>>;
  unchanged: number;
}

export interface ImportPlan {
  organizations: TablePlan<SampleOrganization>;
  users: TablePlan<SampleUser>;
  mappings: TablePlan<SampleMapping> & {
    /** Gateway mappings of organizations outside the sample whose tenant the sample maps elsewhere: removed with --force. */
    moved: Array<{ mapping: SampleMapping; to: string }>;
  };
  /** What even --force cannot resolve (it would take deleting or renaming gateway data). */
  blocking: string[];
}

/** Rows changed: what "N changes" counts. */
export function changeCount(plan: ImportPlan): number {
  const { organizations: o, users: u, mappings: m } = plan;
  return o.create.length + o.update.length + u.create.length + u.update.length + m.create.length + m.update.length + m.moved.length;
}

/** The sample's rows that the gateway holds otherwise, one line each: the changes that need --force. */
export function conflicts(plan: ImportPlan): string[] {
  return [
    ...plan.organizations.update.map((u) => `organization ${u.after.id} (${JSON.stringify(u.after.name)}): ${u.fields.join(', ')} differ`),
    ...plan.users.update.map((u) => `user ${u.after.id} (${JSON.stringify(u.after.login)}): ${u.fields.join(', ')} differ`),
    ...plan.mappings.update.map((u) => `tenant mapping of organization ${u.after.organizationId}: ${u.fields.join(', ')} differ`),
    ...plan.mappings.moved.map(
      ({ mapping, to }) => `tenant ${mapping.acronisTenantId} is mapped to gateway organization ${mapping.organizationId}; the sample maps it to ${to}`,
    ),
  ];
}

function differing<T extends object>(before: T, after: T, fields: Array<keyof T & string>): string[] {
  return fields.filter((f) => before[f] !== after[f]);
}

/** Rows whose `column` is one of `values`, in chunks. */
async function findIn<E extends ObjectLiteral>(em: EntityManager, entity: EntityTarget<E>, column: keyof E & string, values: string[]): Promise<E[]> {
  const out: E[] = [];
  for (const part of chunks([...new Set(values)], CHUNK)) {
    out.push(...(await em.find(entity, { where: { [column]: In(part) } as never })));
  }
  return out;
}

function plan<T extends object>(rows: T[], existing: Map<string, T>, key: (row: T) => string, fields: Array<keyof T & string>): TablePlan<T> {
  const out: TablePlan<T> = { create: [], update: [], unchanged: 0 };
  for (const row of rows) {
    const before = existing.get(key(row));
    if (!before) out.create.push(row);
    else {
      const changed = differing(before, row, fields);
      if (changed.length === 0) out.unchanged++;
      else out.update.push({ before, after: row, fields: changed });
    }
  }
  return out;
}

/**
 * Brings the Python sample's data into the gateway's tables: compares every row of the sample
 * with the row of the same id, then creates what is missing and (with --force) overwrites what
 * differs. Rows of the gateway that the sample does not have are left alone. Like `seed`, an
 * import records no domain events: it is initial data, not a change a subscriber has to hear about.
 */
@Injectable()
export class SampleImportService {
  /** What importing `sample` would change in the database `em` reads. */
  async plan(em: EntityManager, sample: SampleData): Promise<ImportPlan> {
    const blocking: string[] = [];

    const allOrganizations = await em.find(Organization);
    const gatewayOrgs = new Map(allOrganizations.map((o) => [o.id, { id: o.id, parentId: o.parentId, name: o.name, kind: o.kind }]));
    const organizations = plan<SampleOrganization>(sample.organizations, gatewayOrgs, (o) => o.id, ['parentId', 'name', 'kind']);

    // Customers have no organizations below them: checked on the tree as it would be, for the rows the sample touches.
    const sampleOrgIds = new Set(sample.organizations.map((o) => o.id));
    const after = new Map([...gatewayOrgs, ...sample.organizations.map((o) => [o.id, o] as const)]);
    for (const org of after.values()) {
      const parent = org.parentId === null ? undefined : after.get(org.parentId);
      if (parent?.kind === OrganizationKind.Customer && (sampleOrgIds.has(org.id) || sampleOrgIds.has(parent.id))) {
        blocking.push(`organization ${org.id} would be below customer ${parent.id} (${JSON.stringify(parent.name)}); in the gateway customers have no organizations below them`);
      }
    }

    const gatewayUsers = [
      ...(await findIn(em, User, 'id', sample.users.map((u) => u.id))),
      ...(await findIn(em, User, 'login', sample.users.map((u) => u.login))),
    ];
    const usersById = new Map(
      gatewayUsers.map((u) => [u.id, { id: u.id, login: u.login, name: u.name, email: u.email, password: u.password, organizationId: u.organizationId }]),
    );
    const loginHolders = new Map(gatewayUsers.map((u) => [u.login, u.id]));
    for (const user of sample.users) {
      const holder = loginHolders.get(user.login);
      if (holder !== undefined && holder !== user.id) {
        blocking.push(`login ${JSON.stringify(user.login)} of the sample's user ${user.id} belongs to the gateway's user ${holder}; rename or remove one of them`);
      }
    }
    const users = plan<SampleUser>(sample.users, usersById, (u) => u.id, ['login', 'name', 'email', 'password', 'organizationId']);

    const gatewayMappings = [
      ...(await findIn(em, OrganizationMapping, 'organizationId', sample.mappings.map((m) => m.organizationId))),
      ...(await findIn(em, OrganizationMapping, 'acronisTenantId', sample.mappings.map((m) => m.acronisTenantId))),
    ].map((m) => ({ organizationId: m.organizationId, acronisTenantId: m.acronisTenantId, acronisDcUrl: m.acronisDcUrl }));
    const mappingsByOrg = new Map(gatewayMappings.map((m) => [m.organizationId, m]));
    const mappings = {
      ...plan<SampleMapping>(sample.mappings, mappingsByOrg, (m) => m.organizationId, ['acronisTenantId', 'acronisDcUrl']),
      moved: [] as ImportPlan['mappings']['moved'],
    };
    // A tenant the gateway maps to an organization whose mapping the sample does not replace moves to the sample's organization.
    const replaced = new Set(sample.mappings.map((m) => m.organizationId));
    const sampleTenants = new Map(sample.mappings.map((m) => [m.acronisTenantId, m.organizationId]));
    for (const mapping of mappingsByOrg.values()) {
      const to = sampleTenants.get(mapping.acronisTenantId);
      if (to !== undefined && to !== mapping.organizationId && !replaced.has(mapping.organizationId)) mappings.moved.push({ mapping, to });
    }

    return { organizations, users, mappings, blocking };
  }

  /** Writes the plan in `em`'s transaction: organizations parents first, then users, then mappings. */
  async apply(em: EntityManager, plan: ImportPlan, sample: SampleData): Promise<void> {
    const depth = depths(sample.organizations);
    const created = [...plan.organizations.create].sort((a, b) => (depth.get(a.id) ?? 0) - (depth.get(b.id) ?? 0));
    for (const part of chunks(created, ROWS_PER_INSERT)) await em.insert(Organization, part);
    for (const { after } of plan.organizations.update) {
      await em.update(Organization, { id: after.id }, { parentId: after.parentId, name: after.name, kind: after.kind });
    }

    for (const part of chunks(plan.users.create, ROWS_PER_INSERT)) await em.insert(User, part);
    for (const { after } of plan.users.update) {
      const { id, ...values } = after;
      await em.update(User, { id }, values);
    }

    // Replaced and moved mappings go first, so no tenant is ever held twice on the unique index.
    const removed = [...plan.mappings.update.map((u) => u.after.organizationId), ...plan.mappings.moved.map((m) => m.mapping.organizationId)];
    for (const part of chunks(removed, CHUNK)) await em.delete(OrganizationMapping, { organizationId: In(part) });
    const inserted = [...plan.mappings.create, ...plan.mappings.update.map((u) => u.after)];
    for (const part of chunks(inserted, ROWS_PER_INSERT)) await em.insert(OrganizationMapping, part);
  }
}

/** How far below a top organization each organization of the sample is (parents are checked to be in the file, without loops). */
function depths(organizations: SampleOrganization[]): Map<string, number> {
  const byId = new Map(organizations.map((o) => [o.id, o]));
  const out = new Map<string, number>();
  const depthOf = (org: SampleOrganization): number => {
    const known = out.get(org.id);
    if (known !== undefined) return known;
    const parent = org.parentId === null ? undefined : byId.get(org.parentId);
    const depth = parent ? depthOf(parent) + 1 : 0;
    out.set(org.id, depth);
    return depth;
  };
  organizations.forEach(depthOf);
  return out;
}

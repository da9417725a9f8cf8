import { hash } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Organization, OrganizationKind } from '../../src/organizations/organization.entity';
import { OrganizationMapping } from '../../src/tenant-mapping/organization-mapping.entity';
import { User } from '../../src/users/user.entity';

const CHEAP = { memoryCost: 4096, timeCost: 1, parallelism: 1 };

export async function createOrganization(
  ds: DataSource,
  input: { kind?: OrganizationKind; parentId?: string | null; name?: string; id?: string } = {},
): Promise<Organization> {
  const org = ds.manager.create(Organization, {
    id: input.id ?? randomUUID(),
    parentId: input.parentId ?? null,
    name: input.name ?? `Org ${randomUUID().slice(0, 8)}`,
    kind: input.kind ?? OrganizationKind.Partner,
  });
  await ds.manager.insert(Organization, org);
  return org;
}

export async function createUser(
  ds: DataSource,
  input: { organizationId: string; id?: string; login?: string; password?: string | null; passwordHash?: string; name?: string; email?: string },
): Promise<User> {
  const login = input.login ?? `user-${randomUUID().slice(0, 8)}`;
  const password = input.passwordHash ?? (input.password ? await hash(input.password, CHEAP) : null);
  const user = ds.manager.create(User, {
    id: input.id ?? randomUUID(),
    login: login.toLowerCase(),
    name: input.name ?? login,
    email: input.email ?? `${login}@example.test`,
    password,
    organizationId: input.organizationId,
  });
  await ds.manager.insert(User, user);
  return user;
}

export async function mapOrganization(ds: DataSource, organizationId: string, acronisTenantId = randomUUID(), dcUrl: string | null = null): Promise<OrganizationMapping> {
  const mapping = ds.manager.create(OrganizationMapping, { organizationId, acronisTenantId, acronisDcUrl: dcUrl });
  await ds.manager.insert(OrganizationMapping, mapping);
  return mapping;
}

export interface Tree {
  partner: Organization;
  partnerUser: User;
  password: string;
  customers: Organization[];
  /** A sub-partner under the partner, with one customer of its own. */
  subPartner: Organization;
  subCustomer: Organization;
  /** Another, unrelated partner with its own customer and credentials. */
  other: Organization;
  otherCustomer: Organization;
  otherUser: User;
}

/** A small organization tree: partner → (2 customers, sub-partner → customer), and a stranger. */
export async function createTree(ds: DataSource): Promise<Tree> {
  const password = 'partner-password';
  const partner = await createOrganization(ds, { name: 'Partner Inc.' });
  const partnerUser = await createUser(ds, { organizationId: partner.id, login: 'partner', password });
  const customers = [
    await createOrganization(ds, { kind: OrganizationKind.Customer, parentId: partner.id, name: 'Beta Customer' }),
    await createOrganization(ds, { kind: OrganizationKind.Customer, parentId: partner.id, name: 'Alpha Customer' }),
  ];
  const subPartner = await createOrganization(ds, { parentId: partner.id, name: 'Sub Partner' });
  const subCustomer = await createOrganization(ds, { kind: OrganizationKind.Customer, parentId: subPartner.id, name: 'Gamma Customer' });
  const other = await createOrganization(ds, { name: 'Other Partner' });
  const otherCustomer = await createOrganization(ds, { kind: OrganizationKind.Customer, parentId: other.id, name: 'Other Customer' });
  const otherUser = await createUser(ds, { organizationId: other.id, login: 'other', password: 'other-password' });
  return { partner, partnerUser, password, customers, subPartner, subCustomer, other, otherCustomer, otherUser };
}

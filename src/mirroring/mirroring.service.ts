import { Injectable } from '@nestjs/common';
import type { EntityManager, EntityTarget } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { DomainError, ErrorCode } from '../common/domain-error';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import type { MirroredOrganization } from './mirrored-organization.entity';

/** The guide: "The callback handler must ensure that the credentials belong to the same partner ID." */
export const OTHER_PARTNER = 'These credentials belong to an organization enabled for a different Acronis partner tenant.';

/**
 * What the mirroring handlers share. The link between an organization and its Acronis partner
 * tenant is its `organizations_mapping` row, whichever method made it (so mapped partners may
 * mirror their customers), and nothing else: reset removes it, and with it the binding.
 */
@Injectable()
export class MirroringService {
  constructor(private readonly mappings: TenantMappingService) {}

  /** The organization's mapping, the link to its Acronis partner tenant; null when not enabled. */
  link(em: EntityManager, organizationId: string): Promise<OrganizationMapping | null> {
    return this.mappings.findByOrganization(em, organizationId);
  }

  /** The organization's link, which must be to `tenant`: 403 when linked to another Acronis tenant, 404 when not linked. */
  async requireLink(em: EntityManager, organizationId: string, tenant: string): Promise<OrganizationMapping> {
    const link = await this.link(em, organizationId);
    if (!link) throw new DomainError(ErrorCode.TenantNotMapped, 'Your organization is not enabled for an Acronis partner tenant; enable the partner first.');
    if (link.acronisTenantId !== tenant) throw new DomainError(ErrorCode.Forbidden, OTHER_PARTNER);
    return link;
  }
}

/** 400 unless the payload's partner tenant is the request's `context.tenant_id` (the guide's examples always agree). */
export function assertContextTenant(field: string, value: string, contextTenantId: string): string {
  const tenant = value.toLowerCase();
  if (tenant !== contextTenantId.toLowerCase()) {
    throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: payload.${field} must be the request's context.tenant_id.`);
  }
  return tenant;
}

/** Column values for insert/update: TypeORM's partial-entity type cannot express a simple-json column (as in OutboxService). */
const columns = <T>(value: Partial<T>): QueryDeepPartialEntity<T> => value as QueryDeepPartialEntity<T>;

/** Inserts the organization's record, or updates it where a field differs (settings compared as stored); true when it wrote. */
export async function writeMirrored<T extends MirroredOrganization>(
  em: EntityManager,
  entity: EntityTarget<T>,
  organizationId: string,
  record: T | null | undefined,
  fields: Partial<T>,
): Promise<boolean> {
  if (!record) {
    await em.insert(entity, columns<T>({ organizationId, ...fields }));
    return true;
  }
  const same = (key: string, value: unknown) => (key === 'settings' ? JSON.stringify(record.settings ?? null) === JSON.stringify(value ?? null) : record[key as keyof T] === value);
  if (Object.entries(fields).every(([key, value]) => same(key, value))) return false;
  await em.update(entity, { organizationId }, columns<T>(fields));
  return true;
}

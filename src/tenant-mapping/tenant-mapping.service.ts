import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { OrganizationsService } from '../organizations/organizations.service';
import { OrganizationMapping } from './organization-mapping.entity';

/** Where a custom callback acts: the organization mapped to `context.tenant_id`. */
export interface TargetOrganization {
  organizationId: string;
}

@Injectable()
export class TenantMappingService {
  constructor(private readonly organizations: OrganizationsService) {}

  findByOrganization(em: EntityManager, organizationId: string): Promise<OrganizationMapping | null> {
    return em.findOne(OrganizationMapping, { where: { organizationId } });
  }

  findByTenant(em: EntityManager, acronisTenantId: string): Promise<OrganizationMapping | null> {
    return em.findOne(OrganizationMapping, { where: { acronisTenantId: acronisTenantId.toLowerCase() } });
  }

  /**
   * The organization a custom callback targets: the one mapped to the Acronis tenant, which must
   * be the caller's organization or below it (403 otherwise). Null when the tenant is not mapped.
   */
  async resolveTarget(em: EntityManager, caller: VerifiedCaller, acronisTenantId: string): Promise<TargetOrganization | null> {
    const mapping = await this.findByTenant(em, acronisTenantId);
    if (!mapping) return null;
    if (mapping.organizationId !== caller.organizationId) {
      const subtree = await this.organizations.subtreeIds(em, caller.organizationId);
      if (!subtree.has(mapping.organizationId)) {
        throw new DomainError(ErrorCode.Forbidden, 'The tenant belongs to another organization.');
      }
    }
    return { organizationId: mapping.organizationId };
  }

  /** As resolveTarget, for writes: an unmapped tenant is a 404. */
  async requireTarget(em: EntityManager, caller: VerifiedCaller, acronisTenantId: string): Promise<TargetOrganization> {
    const target = await this.resolveTarget(em, caller, acronisTenantId);
    if (!target) throw new DomainError(ErrorCode.TenantNotMapped, 'The tenant is not mapped to any organization.');
    return target;
  }
}

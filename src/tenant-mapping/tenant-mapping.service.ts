import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { ancestryCte } from '../organizations/organization-tree';
import { OrganizationMapping } from './organization-mapping.entity';

/** Where a custom callback acts: the organization mapped to `context.tenant_id`. */
export interface TargetOrganization {
  organizationId: string;
}

@Injectable()
export class TenantMappingService {
  findByOrganization(em: EntityManager, organizationId: string): Promise<OrganizationMapping | null> {
    return em.findOne(OrganizationMapping, { where: { organizationId } });
  }

  findByTenant(em: EntityManager, acronisTenantId: string): Promise<OrganizationMapping | null> {
    return em.findOne(OrganizationMapping, { where: { acronisTenantId: acronisTenantId.toLowerCase() } });
  }

  /**
   * The organization a custom callback targets: the one mapped to the Acronis tenant, which must
   * be the caller's organization or below it (403 otherwise). Null when the tenant is not mapped.
   * One query on every custom callback: it walks up from the target (the depth of the tree)
   * rather than loading the caller's whole subtree.
   */
  async resolveTarget(em: EntityManager, caller: VerifiedCaller, acronisTenantId: string): Promise<TargetOrganization | null> {
    const [sql, params] = em.connection.driver.escapeQueryWithParameters(
      `${ancestryCte('SELECT o.id, o.parent_id FROM organizations_mapping m JOIN organizations o ON o.id = m.organization_id WHERE m.acronis_tenant_id = :tenant')}
       SELECT m.organization_id AS organization_id,
              CASE WHEN EXISTS (SELECT 1 FROM up WHERE up.id = :caller) THEN 1 ELSE 0 END AS allowed
         FROM organizations_mapping m WHERE m.acronis_tenant_id = :tenant`,
      { tenant: acronisTenantId.toLowerCase(), caller: caller.organizationId },
      {},
    );
    const rows: Array<{ organization_id: string; allowed: number | string }> = await em.query(sql, params);
    if (rows.length === 0) return null;
    if (Number(rows[0].allowed) !== 1) throw new DomainError(ErrorCode.Forbidden, 'The tenant belongs to another organization.');
    return { organizationId: rows[0].organization_id };
  }

  /** As resolveTarget, for writes: an unmapped tenant is a 404. */
  async requireTarget(em: EntityManager, caller: VerifiedCaller, acronisTenantId: string): Promise<TargetOrganization> {
    const target = await this.resolveTarget(em, caller, acronisTenantId);
    if (!target) throw new DomainError(ErrorCode.TenantNotMapped, 'The tenant is not mapped to any organization.');
    return target;
  }
}

import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { EnablementMethod } from '../callbacks/enablement-method';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';
import { EXAMPLE_IDS } from '../callbacks/callback-example';

@CallbackHandler({
  id: 'a.p.enablement.read.v1.0',
  method: EnablementMethod.MappedPartner,
  responseType: 'a.p.enablement.read.ok.v1.0',
  example: {
    summary: "The caller's organization and the Acronis tenant it is mapped to (absent when unmapped)",
    response: { vendor_tenant_id: EXAMPLE_IDS.partnerOrganization, acronis_tenant_id: EXAMPLE_IDS.acronisPartnerTenant },
  },
})
@Injectable()
export class EnablementReadHandler implements CallbackHandlerContract {
  constructor(private readonly mappings: TenantMappingService) {}

  async handle({ em, caller }: CallbackInvocation): Promise<CallbackResult> {
    const mapping = await this.mappings.findByOrganization(em, caller.organizationId);
    return mapping
      ? { vendor_tenant_id: caller.organizationId, acronis_tenant_id: mapping.acronisTenantId }
      : { vendor_tenant_id: caller.organizationId };
  }
}

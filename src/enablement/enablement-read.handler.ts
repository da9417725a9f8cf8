import { Injectable } from '@nestjs/common';
import { CallbackHandler, CallbackHandlerContract, CallbackInvocation, CallbackResult } from '../callbacks/callback-handler.decorator';
import { EnablementMethod } from '../callbacks/enablement-method';
import { TenantMappingService } from '../tenant-mapping/tenant-mapping.service';

@CallbackHandler({ id: 'a.p.enablement.read.v1.0', method: EnablementMethod.MappedPartner, responseType: 'a.p.enablement.read.ok.v1.0' })
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

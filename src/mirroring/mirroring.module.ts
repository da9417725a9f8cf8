import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { OrganizationsModule } from '../organizations/organizations.module';
import { TenantMappingModule } from '../tenant-mapping/tenant-mapping.module';
import { CustomerMirroringGetStateHandler } from './customer-mirroring-get-state.handler';
import { CustomerMirroringSetStateHandler } from './customer-mirroring-set-state.handler';
import { MirroringService } from './mirroring.service';
import { PartnerMirroringEnableHandler } from './partner-mirroring-enable.handler';
import { PartnerMirroringGetStateHandler } from './partner-mirroring-get-state.handler';
import { PartnerMirroringResetHandler } from './partner-mirroring-reset.handler';
import { TypeOrmModule } from '@nestjs/typeorm';
import { MirroredCustomer } from './mirrored-customer.entity';
import { MirroredPartner } from './mirrored-partner.entity';

/** Mirrored enablement: the five mirroring callbacks of the Acronis guide. */
@Module({
  imports: [TypeOrmModule.forFeature([MirroredPartner, MirroredCustomer]), OrganizationsModule, TenantMappingModule, EventsModule],
  providers: [
    MirroringService,
    PartnerMirroringGetStateHandler,
    PartnerMirroringEnableHandler,
    PartnerMirroringResetHandler,
    CustomerMirroringGetStateHandler,
    CustomerMirroringSetStateHandler,
  ],
})
export class MirroringModule {}

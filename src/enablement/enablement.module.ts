import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { OrganizationsModule } from '../organizations/organizations.module';
import { TenantMappingModule } from '../tenant-mapping/tenant-mapping.module';
import { EnablementReadHandler } from './enablement-read.handler';
import { EnablementResetHandler } from './enablement-reset.handler';
import { EnablementWriteHandler } from './enablement-write.handler';

@Module({
  imports: [OrganizationsModule, TenantMappingModule, EventsModule],
  providers: [EnablementReadHandler, EnablementWriteHandler, EnablementResetHandler],
})
export class EnablementModule {}

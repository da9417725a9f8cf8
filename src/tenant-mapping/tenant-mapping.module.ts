import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { OrganizationMapping } from './organization-mapping.entity';
import { EventsModule } from '../events/events.module';
import { OrganizationsModule } from '../organizations/organizations.module';
import { TenantMappingReadHandler } from './tenant-mapping-read.handler';
import { TenantMappingService } from './tenant-mapping.service';
import { TenantMappingWriteHandler } from './tenant-mapping-write.handler';
import { TopologyReadHandler } from './topology-read.handler';

@Module({
  imports: [TypeOrmModule.forFeature([OrganizationMapping]), OrganizationsModule, EventsModule],
  providers: [TenantMappingService, TopologyReadHandler, TenantMappingReadHandler, TenantMappingWriteHandler],
  exports: [TenantMappingService],
})
export class TenantMappingModule {}

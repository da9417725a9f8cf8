import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { OrganizationsService } from './organizations.service';

@Module({
  imports: [EventsModule],
  providers: [OrganizationsService],
  exports: [OrganizationsService],
})
export class OrganizationsModule {}

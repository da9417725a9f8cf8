import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { EventsModule } from '../events/events.module';
import { OrganizationsModule } from '../organizations/organizations.module';
import { TenantMappingModule } from '../tenant-mapping/tenant-mapping.module';
import { ResetPasswordHandler } from './reset-password.handler';
import { UserDeleteHandler } from './user-delete.handler';
import { UserUpdateHandler } from './user-update.handler';
import { UserWriteHandler } from './user-write.handler';
import { UsersReadHandler } from './users-read.handler';
import { UsersService } from './users.service';

@Module({
  imports: [AuthModule, OrganizationsModule, TenantMappingModule, EventsModule],
  providers: [UsersService, UsersReadHandler, UserWriteHandler, UserUpdateHandler, UserDeleteHandler, ResetPasswordHandler],
  exports: [UsersService],
})
export class UsersModule {}

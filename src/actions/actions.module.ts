import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { actionsConfig } from '../config/actions.config';
import { DatabaseModule } from '../database/database.module';
import { EventsModule } from '../events/events.module';
import { OrganizationsModule } from '../organizations/organizations.module';
import { TenantMappingModule } from '../tenant-mapping/tenant-mapping.module';
import { ActionCatalogService } from './action-catalog.service';
import { ActionChannelService } from './action-channel.service';
import { ActionConfigController } from './action-config.controller';
import { ActionConnectionRegistry } from './action-connection-registry.service';
import { ActionHandlerApiController } from './action-handler-api.controller';
import { ActionHandlerTokenGuard } from './action-handler-token.guard';
import { ActionHandlersService } from './action-handlers.service';
import { ActionLedgerService } from './action-ledger.service';
import { ActionSubmitHandler } from './action-submit.handler';
import { ActionsController } from './actions.controller';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ActionApplicability } from './action-applicability.entity';
import { ActionCapability } from './action-capability.entity';
import { ActionHandler } from './action-handler.entity';
import { Action } from './action.entity';

/**
 * WebSocket action channel (issue 9, docs/protocols.md, action channel): handler credentials, capabilities and
 * applicabilities, the durable action ledger, the `/api/action-ws/1.0` endpoint and the APIs.
 */
@Module({
  imports: [TypeOrmModule.forFeature([ActionHandler, ActionCapability, ActionApplicability, Action]), ConfigModule.forFeature(actionsConfig), AuditModule, AuthModule, DatabaseModule, EventsModule, OrganizationsModule, TenantMappingModule],
  // The static configuration paths are registered before `/api/actions/:id`.
  controllers: [ActionConfigController, ActionsController, ActionHandlerApiController],
  providers: [
    ActionConnectionRegistry,
    ActionHandlersService,
    ActionCatalogService,
    ActionLedgerService,
    ActionChannelService,
    ActionHandlerTokenGuard,
    ActionSubmitHandler,
  ],
  exports: [ActionLedgerService, ActionHandlersService, ActionConnectionRegistry],
})
export class ActionsModule {}

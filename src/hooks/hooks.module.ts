import { Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AuthModule } from '../auth/auth.module';
import { hooksConfig } from '../config/hooks.config';
import { webhooksConfig } from '../config/webhooks.config';
import { DatabaseModule } from '../database/database.module';
import { EventsModule } from '../events/events.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { HookApprovalsService } from './hook-approvals.service';
import { HookDecisionsService } from './hook-decisions.service';
import { HookEndpointsService } from './hook-endpoints.service';
import { HooksController } from './hooks.controller';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HookDecision } from './hook-decision.entity';
import { HookEndpoint } from './hook-endpoint.entity';

/**
 * Approval pre-/post-hooks (issue 7). Global, so that the modules whose operations are hooked
 * (users, enablement, tenant mapping, webhooks) reach HookApprovalsService without importing this
 * module, which itself builds on WebhooksModule (sender, delivery signal, deliveries).
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([HookEndpoint, HookDecision]), ConfigModule.forFeature(hooksConfig), ConfigModule.forFeature(webhooksConfig), AuthModule, DatabaseModule, EventsModule, WebhooksModule],
  controllers: [HooksController],
  providers: [HookApprovalsService, HookEndpointsService, HookDecisionsService],
  exports: [HookApprovalsService, HookEndpointsService, HookDecisionsService],
})
export class HooksModule {}

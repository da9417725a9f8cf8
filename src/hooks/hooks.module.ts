import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AuthModule } from '../auth/auth.module';
import { hooksConfig } from '../config/hooks.config';
import { webhooksConfig } from '../config/webhooks.config';
import { DatabaseModule } from '../database/database.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { HookApprovalsModule } from './hook-approvals.module';
import { HookDecisionsService } from './hook-decisions.service';
import { HookEndpointsService } from './hook-endpoints.service';
import { HooksController } from './hooks.controller';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HookDecision } from './hook-decision.entity';
import { HookEndpoint } from './hook-endpoint.entity';

/**
 * Approval pre-/post-hooks (issue 7): the API under /api/hooks and, through HookApprovalsModule,
 * the approval gate the callback service and the webhooks API ask. Hook endpoints are webhook
 * subscriptions of kind `hook`, their post-hooks deliveries of the webhook delivery core.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([HookEndpoint, HookDecision]),
    ConfigModule.forFeature(hooksConfig),
    ConfigModule.forFeature(webhooksConfig),
    AuthModule,
    DatabaseModule,
    WebhooksModule,
    HookApprovalsModule,
  ],
  controllers: [HooksController],
  providers: [HookEndpointsService, HookDecisionsService],
  exports: [HookApprovalsModule, HookEndpointsService, HookDecisionsService],
})
export class HooksModule {}

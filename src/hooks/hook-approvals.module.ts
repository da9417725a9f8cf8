import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AuditModule } from '../audit/audit.module';
import { APPROVAL_GATE } from '../callbacks/approval-gate';
import { webhooksConfig } from '../config/webhooks.config';
import { DatabaseModule } from '../database/database.module';
import { EventsModule } from '../events/events.module';
import { WebhookSenderModule } from '../webhooks/webhook-sender.module';
import { HookApprovalsService } from './hook-approvals.service';

/**
 * The approval gate (APPROVAL_GATE): what the callback service and the webhooks API ask before a
 * hooked operation. A module of its own, below WebhooksModule (it needs only the sender), so that
 * WebhooksModule can import it while HooksModule builds on WebhooksModule.
 */
@Module({
  imports: [ConfigModule.forFeature(webhooksConfig), AuditModule, DatabaseModule, EventsModule, WebhookSenderModule],
  providers: [HookApprovalsService, { provide: APPROVAL_GATE, useExisting: HookApprovalsService }],
  exports: [HookApprovalsService, APPROVAL_GATE],
})
export class HookApprovalsModule {}

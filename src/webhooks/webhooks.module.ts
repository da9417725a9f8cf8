import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AuditModule } from '../audit/audit.module';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module';
import { webhooksConfig } from '../config/webhooks.config';
import { DatabaseModule } from '../database/database.module';
import { EventsModule } from '../events/events.module';
import { MetricsRegistryModule } from '../metrics/metrics-registry.module';
import { HookApprovalsModule } from '../hooks/hook-approvals.module';
import { OrganizationsModule } from '../organizations/organizations.module';
import { DeliverySignal } from './delivery-signal.service';
import { DeliveryWorker } from './delivery.worker';
import { WebhookDeliveriesController } from './webhook-deliveries.controller';
import { WebhookDeliveriesService } from './webhook-deliveries.service';
import { WebhookDispatcher } from './webhook-dispatcher.service';
import { WebhookHealthJob } from './webhook-health.job';
import { WebhookDeliveryAttempt } from './webhook-delivery-attempt.entity';
import { WebhookDelivery } from './webhook-delivery.entity';
import { WebhookRetentionJob } from './webhook-retention.job';
import { WebhookSenderModule } from './webhook-sender.module';
import { WebhookSubscription } from './webhook-subscription.entity';
import { WebhookSubscriptionsService } from './webhook-subscriptions.service';
import { WebhooksController } from './webhooks.controller';

/**
 * Outbound webhooks (docs/architecture.md, flow 2): subscriptions, the dispatcher that fans events out to deliveries,
 * the delivery worker, and the REST API under /api/webhooks.
 */
@Module({
  imports: [
    ConfigModule.forFeature(webhooksConfig),
    TypeOrmModule.forFeature([WebhookSubscription, WebhookDelivery, WebhookDeliveryAttempt]),
    AuditModule,
    AuthModule,
    DatabaseModule,
    EventsModule,
    MetricsRegistryModule,
    OrganizationsModule,
    WebhookSenderModule,
    // The approval gate of the subscription changes (webhook.create, …).
    HookApprovalsModule,
  ],
  // Deliveries first: `/api/webhooks/deliveries` is a static path next to `/api/webhooks/:id`.
  controllers: [WebhookDeliveriesController, WebhooksController],
  providers: [DeliverySignal, WebhookDispatcher, DeliveryWorker, WebhookSubscriptionsService, WebhookDeliveriesService, WebhookRetentionJob, WebhookHealthJob],
  exports: [DeliverySignal, WebhookSenderModule, WebhookSubscriptionsService, WebhookDeliveriesService],
})
export class WebhooksModule {}

import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { webhooksConfig } from '../config/webhooks.config';
import { WebhookSender } from './webhook-sender.service';

/** The signed HTTP client of the delivery core, on its own: the approval gate (src/hooks) calls pre-hooks with it. */
@Module({
  imports: [ConfigModule.forFeature(webhooksConfig)],
  providers: [WebhookSender],
  exports: [WebhookSender],
})
export class WebhookSenderModule {}

import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AuditModule } from '../audit/audit.module';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ActionsModule } from '../actions/actions.module';
import { AuthModule } from '../auth/auth.module';
import { consoleConfig } from '../config/console.config';
import { s3EventsConfig } from '../config/s3-events.config';
import { webhooksConfig } from '../config/webhooks.config';
import { ConnectorModule } from '../connector/connector.module';
import { HooksModule } from '../hooks/hooks.module';
import { MetricsRegistryModule } from '../metrics/metrics-registry.module';
import { S3EventsModule } from '../s3-events/s3-events.module';
import { User } from '../users/user.entity';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { ConsoleAssets } from './console-assets.service';
import { ConsoleAuthGuard } from './console-auth.guard';
import { ConsoleCookies } from './console-cookies.service';
import { ConsoleExceptionFilter } from './console-exception.filter';
import { ConsoleOverviewService } from './console-overview.service';
import { ConsoleSession } from './console-session.entity';
import { ConsoleSessions } from './console-sessions.service';
import { ConsoleWebhooksController } from './console-webhooks.controller';
import { ConsoleHooksController } from './console-hooks.controller';
import { ConsoleConnectorController } from './console-connector.controller';
import { ConsoleActivityController } from './console-activity.controller';
import { ConsoleController } from './console.controller';
import { ConsoleS3Controller } from './console-s3.controller';
import { ConsoleActionsController } from './console-actions.controller';

/**
 * The operator console under /console (docs/console.md): server-rendered pages over the same
 * services as the APIs, signed in with the same credentials. Loaded unless CONSOLE_ENABLED=false.
 */
@Module({
  imports: [
    ConfigModule.forFeature(consoleConfig),
    ConfigModule.forFeature(webhooksConfig),
    ConfigModule.forFeature(s3EventsConfig),
    TypeOrmModule.forFeature([ConsoleSession, User]),
    AuditModule,
    AuthModule,
    MetricsRegistryModule,
    WebhooksModule,
    HooksModule,
    ConnectorModule,
    S3EventsModule,
    ActionsModule,
  ],
  controllers: [ConsoleController, ConsoleActivityController, ConsoleWebhooksController, ConsoleHooksController, ConsoleConnectorController, ConsoleS3Controller, ConsoleActionsController],
  providers: [ConsoleAssets, ConsoleCookies, ConsoleSessions, ConsoleAuthGuard, ConsoleExceptionFilter, ConsoleOverviewService],
})
export class ConsoleModule {}

import { DynamicModule, Module } from '@nestjs/common';
import { APP_PIPE } from '@nestjs/core';
import { ConfigModule } from '@nestjs/config';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import { ActionsModule } from './actions/actions.module';
import { AppController } from './app.controller';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { ApiValidationPipe } from './common/api-validation.pipe';
import { CallbacksModule } from './callbacks/callbacks.module';
import { ConnectorModule } from './connector/connector.module';
import { ConsoleModule } from './console/console.module';
import { appConfig } from './config/app.config';
import { authConfig } from './config/auth.config';
import { callbacksConfig } from './config/callbacks.config';
import { consoleConfig } from './config/console.config';
import { databaseConfig, DatabaseConfig } from './config/database.config';
import { loggerOptions } from './config/logger.options';
import { nestDataSourceOptions } from './database/data-source-options';
import { DatabaseModule } from './database/database.module';
import { EnablementModule } from './enablement/enablement.module';
import { EventsModule } from './events/events.module';
import { HealthModule } from './health/health.module';
import { HooksModule } from './hooks/hooks.module';
import { MetricsModule } from './metrics/metrics.module';
import { MirroringModule } from './mirroring/mirroring.module';
import { OrganizationsModule } from './organizations/organizations.module';
import { S3EventsModule } from './s3-events/s3-events.module';
import { TenantMappingModule } from './tenant-mapping/tenant-mapping.module';
import { UsersModule } from './users/users.module';
import { WebhooksModule } from './webhooks/webhooks.module';

/**
 * The whole service. A dynamic module so that configuration is read when the application is
 * created (tests set their environment first), not when this file is imported.
 */
@Module({})
export class AppModule {
  static forRoot(): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true, cache: true, ignoreEnvFile: true, load: [appConfig, databaseConfig, authConfig, callbacksConfig] }),
        LoggerModule.forRootAsync({ inject: [appConfig.KEY], useFactory: loggerOptions }),
        TypeOrmModule.forRootAsync({
          inject: [databaseConfig.KEY],
          useFactory: (db: DatabaseConfig) => nestDataSourceOptions(db, db.migrationsRun),
        }),
        ScheduleModule.forRoot(),
        DatabaseModule,
        EventsModule,
        AuditModule,
        HealthModule,
        AuthModule,
        OrganizationsModule,
        TenantMappingModule,
        EnablementModule,
        MirroringModule,
        UsersModule,
        CallbacksModule,
        ConnectorModule,
        WebhooksModule,
        HooksModule,
        S3EventsModule,
        ActionsModule,
        MetricsModule,
        ...(consoleConfig().enabled ? [ConsoleModule] : []),
      ],
      controllers: [AppController],
      providers: [{ provide: APP_PIPE, useClass: ApiValidationPipe }],
    };
  }
}

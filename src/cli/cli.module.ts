import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { ConnectorModule } from '../connector/connector.module';
import { appConfig } from '../config/app.config';
import { authConfig } from '../config/auth.config';
import { connectorConfig } from '../config/connector.config';
import { databaseConfig, DatabaseConfig } from '../config/database.config';
import { nestDataSourceOptions } from '../database/data-source-options';
import { DatabaseModule } from '../database/database.module';
import { ConnectorRunCommand } from './connector-run.command';
import { ConnectorCommand } from './connector.command';
import { ImportSampleCommand } from './import-sample.command';
import { SampleImportService } from './sample-import/sample-import.service';
import { SeedCommand } from './seed.command';
import { SeedService } from './seed.service';
import { MigrateCommand } from './migrate.command';
import { UserAddCommand, UserCommand, UserPasswdCommand, UserRemoveCommand } from './user.command';
import { WebhooksCommand, WebhooksRedeliverCommand, WebhooksTestCommand } from './webhooks.command';
import { HooksCommand, HooksMockCommand, HooksTestCommand } from './hooks.command';
import { HooksModule } from '../hooks/hooks.module';
import { UsersModule } from '../users/users.module';
import { WebhooksModule } from '../webhooks/webhooks.module';

/**
 * The command-line tools: configuration and database as the app has them, without HTTP,
 * logging, schedulers or background workers. Migrations always run first, whatever
 * DATABASE_MIGRATIONS_RUN says.
 */
@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true, cache: true, ignoreEnvFile: true, load: [appConfig, databaseConfig, authConfig, connectorConfig] }),
    TypeOrmModule.forRootAsync({
      inject: [databaseConfig.KEY],
      useFactory: (db: DatabaseConfig) => nestDataSourceOptions(db, true),
    }),
    AuthModule,
    DatabaseModule,
    AuditModule,
    ConnectorModule,
    UsersModule,
    WebhooksModule,
    HooksModule,
  ],
  providers: [
    SeedService,
    SeedCommand,
    ConnectorCommand,
    ConnectorRunCommand,
    MigrateCommand,
    UserCommand,
    UserAddCommand,
    UserPasswdCommand,
    UserRemoveCommand,
    WebhooksCommand,
    WebhooksRedeliverCommand,
    WebhooksTestCommand,
    HooksCommand,
    HooksMockCommand,
    HooksTestCommand,
    SampleImportService,
    ImportSampleCommand,
  ],
})
export class CliModule {}

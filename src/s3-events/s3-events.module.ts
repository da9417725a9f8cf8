import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AuditModule } from '../audit/audit.module';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module';
import { s3EventsConfig } from '../config/s3-events.config';
import { DatabaseModule } from '../database/database.module';
import { EventsModule } from '../events/events.module';
import { MetricsRegistryModule } from '../metrics/metrics-registry.module';
import { S3ActionRunner } from './s3-action-runner.service';
import { S3ActionAttempt } from './s3-action-attempt.entity';
import { S3EventSource } from './s3-event-source.entity';
import { S3InboxRecord } from './s3-inbox-record.entity';
import { S3SourceConfirmation } from './s3-source-confirmation.entity';
import { S3InboxController } from './s3-inbox.controller';
import { S3InboxSignal } from './s3-inbox-signal.service';
import { S3InboxService } from './s3-inbox.service';
import { S3InboxWorker } from './s3-inbox.worker';
import { S3IntakeController } from './s3-intake.controller';
import { S3IntakeService } from './s3-intake.service';
import { S3SourcesController } from './s3-sources.controller';
import { S3SourcesService } from './s3-sources.service';

/**
 * Object-storage event intake (issue 8): sources (bucket notification endpoints), the intake
 * route the bucket calls, the inbox and its worker (outbox events, command and replicate actions),
 * and the API under /api/s3-events.
 */
@Module({
  imports: [ConfigModule.forFeature(s3EventsConfig), TypeOrmModule.forFeature([S3EventSource, S3InboxRecord, S3ActionAttempt, S3SourceConfirmation]), AuditModule, AuthModule, DatabaseModule, EventsModule, MetricsRegistryModule],
  controllers: [S3IntakeController, S3SourcesController, S3InboxController],
  providers: [S3InboxSignal, S3ActionRunner, S3SourcesService, S3IntakeService, S3InboxService, S3InboxWorker],
  exports: [S3SourcesService, S3InboxService],
})
export class S3EventsModule {}

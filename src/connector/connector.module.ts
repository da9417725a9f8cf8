import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AuditModule } from '../audit/audit.module';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module';
import { connectorConfig } from '../config/connector.config';
import { DatabaseModule } from '../database/database.module';
import { EventsModule } from '../events/events.module';
import { MetricsRegistryModule } from '../metrics/metrics-registry.module';
import { AcronisClient } from './acronis-client.service';
import { ConnectorIntakeController } from './connector-intake.controller';
import { ConnectorItem } from './connector-item.entity';
import { ConnectorItemsService } from './connector-items.service';
import { ConnectorRun } from './connector-run.entity';
import { ConnectorWorkload } from './connector-workload.entity';
import { ConnectorRunner } from './connector-runner.service';
import { ConnectorRunsController } from './connector-runs.controller';
import { ConnectorRunsService } from './connector-runs.service';
import { ConnectorTrigger } from './connector-trigger.service';
import { ConnectorJob } from './connector.job';
import { DemoGenerator } from './demo-generator.service';

/** Pushes the vendor's alerts and workloads to every mapped Acronis tenant (docs/architecture.md, flow 4). */
@Module({
  imports: [ConfigModule.forFeature(connectorConfig), TypeOrmModule.forFeature([ConnectorItem, ConnectorRun, ConnectorWorkload]), AuditModule, AuthModule, DatabaseModule, EventsModule, MetricsRegistryModule],
  controllers: [ConnectorIntakeController, ConnectorRunsController],
  providers: [ConnectorItemsService, ConnectorRunsService, ConnectorTrigger, AcronisClient, DemoGenerator, ConnectorRunner, ConnectorJob],
  exports: [ConnectorItemsService, ConnectorRunsService, ConnectorTrigger, ConnectorRunner],
})
export class ConnectorModule {}

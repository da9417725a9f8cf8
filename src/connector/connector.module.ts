import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module';
import { connectorConfig } from '../config/connector.config';
import { DatabaseModule } from '../database/database.module';
import { ConnectorItem } from './connector-item.entity';
import { ConnectorRun } from './connector-run.entity';

/** Pushes the vendor's alerts and workloads to every mapped Acronis tenant (DESIGN section 3). */
@Module({
  imports: [ConfigModule.forFeature(connectorConfig), TypeOrmModule.forFeature([ConnectorItem, ConnectorRun]), AuthModule, DatabaseModule],
})
export class ConnectorModule {}

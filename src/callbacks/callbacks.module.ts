import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AuditModule } from '../audit/audit.module';
import { DiscoveryModule } from '@nestjs/core';
import { AuthModule } from '../auth/auth.module';
import { connectorConfig } from '../config/connector.config';
import { DatabaseModule } from '../database/database.module';
import { EventsModule } from '../events/events.module';
import { HookApprovalsModule } from '../hooks/hook-approvals.module';
import { CallbackAuditHook } from './callback-audit.hook';
import { CallbackController } from './callback.controller';
import { CallbackRegistry } from './callback-registry.service';
import { CallbackService } from './callback.service';
import { IdempotencySweepJob } from './idempotency-sweep.job';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CallbackRequest } from './callback-request.entity';

@Module({
  // The approval gate (APPROVAL_GATE) is the hooks' (src/hooks); the callback service knows only its interface.
  imports: [TypeOrmModule.forFeature([CallbackRequest]), DiscoveryModule, ConfigModule.forFeature(connectorConfig), AuditModule, AuthModule, DatabaseModule, EventsModule, HookApprovalsModule],
  controllers: [CallbackController],
  providers: [CallbackRegistry, CallbackService, IdempotencySweepJob, CallbackAuditHook],
  exports: [CallbackRegistry],
})
export class CallbacksModule {}

import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { AuthModule } from '../auth/auth.module';
import { DatabaseModule } from '../database/database.module';
import { CallbackController } from './callback.controller';
import { CallbackRegistry } from './callback-registry.service';
import { CallbackService } from './callback.service';
import { IdempotencySweepJob } from './idempotency-sweep.job';

@Module({
  imports: [DiscoveryModule, AuthModule, DatabaseModule],
  controllers: [CallbackController],
  providers: [CallbackRegistry, CallbackService, IdempotencySweepJob],
  exports: [CallbackRegistry],
})
export class CallbacksModule {}

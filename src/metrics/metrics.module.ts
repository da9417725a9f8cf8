import { Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { metricsConfig } from '../config/metrics.config';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/**
 * Prometheus metrics (`GET /metrics`). Global, so that any service can count what it knows; the
 * services that do inject it as optional, as the CLI application has no metrics.
 */
@Global()
@Module({
  imports: [ConfigModule.forFeature(metricsConfig)],
  controllers: [MetricsController],
  providers: [MetricsService],
  exports: [MetricsService],
})
export class MetricsModule {}

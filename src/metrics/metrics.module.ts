import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { metricsConfig } from '../config/metrics.config';
import { MetricsController } from './metrics.controller';
import { MetricsRegistryModule } from './metrics-registry.module';
import { MetricsService } from './metrics.service';

/**
 * Prometheus metrics (`GET /metrics`), in the HTTP application only. Not global: a module that
 * counts imports `MetricsRegistryModule` and injects the registry, which this module serves.
 */
@Module({
  imports: [ConfigModule.forFeature(metricsConfig), MetricsRegistryModule],
  controllers: [MetricsController],
  providers: [MetricsService],
})
export class MetricsModule {}

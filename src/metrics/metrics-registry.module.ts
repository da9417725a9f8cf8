import { Module } from '@nestjs/common';
import { Registry } from 'prom-client';

/**
 * The application's Prometheus registry (never prom-client's global one: tests boot many
 * applications in one process, and each must count its own). A module that counts imports this
 * one and injects `Registry`; `MetricsModule`, in the HTTP application only, serves it on
 * `GET /metrics`. The CLI imports the counting modules too, and its counts go nowhere.
 */
@Module({
  providers: [{ provide: Registry, useFactory: () => new Registry() }],
  exports: [Registry],
})
export class MetricsRegistryModule {}

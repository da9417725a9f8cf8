import { registerAs } from '@nestjs/config';
import { IsBoolean, IsOptional, IsString, MaxLength } from 'class-validator';
import { EnvBoolean, validateConfig } from './validate-config';

class MetricsEnv {
  /** Serve `GET /metrics` (Prometheus text format); false answers it 404. */
  @IsOptional() @EnvBoolean() @IsBoolean()
  METRICS_ENABLED: boolean = true;

  /** When set, `GET /metrics` requires `Authorization: Bearer <token>`. */
  @IsOptional() @IsString() @MaxLength(4096)
  METRICS_TOKEN?: string;
}

export const metricsConfig = registerAs('metrics', () => {
  const env = validateConfig(process.env, MetricsEnv);
  return { enabled: env.METRICS_ENABLED, token: env.METRICS_TOKEN ?? null };
});

export type MetricsConfig = ReturnType<typeof metricsConfig>;

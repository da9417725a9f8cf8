import { registerAs } from '@nestjs/config';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { validateConfig } from './validate-config';

class AuditEnv {
  /** Days an audit record is kept (every kind and outcome alike: a failure is never swept sooner). */
  @IsOptional() @IsInt() @Min(1) @Max(3650)
  AUDIT_RETENTION_DAYS: number = 30;

  /** Minutes between retention sweeps; 0 turns them off. */
  @IsOptional() @IsInt() @Min(0) @Max(7 * 24 * 60)
  AUDIT_RETENTION_INTERVAL_MINUTES: number = 60;
}

export const auditConfig = registerAs('audit', () => {
  const env = validateConfig(process.env, AuditEnv);
  return { retentionMs: env.AUDIT_RETENTION_DAYS * 86_400_000, retentionIntervalMs: env.AUDIT_RETENTION_INTERVAL_MINUTES * 60_000 };
});

export type AuditConfig = ReturnType<typeof auditConfig>;

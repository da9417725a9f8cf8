import { registerAs } from '@nestjs/config';
import { IsBoolean, IsOptional } from 'class-validator';
import { EnvBoolean, validateConfig } from './validate-config';

class S3EventsEnv {
  /** Run the inbox worker (actions on object-storage events) in this process. */
  @IsOptional() @EnvBoolean() @IsBoolean()
  S3_EVENTS_WORKER_ENABLED: boolean = true;
}

export const s3EventsConfig = registerAs('s3Events', () => {
  const env = validateConfig(process.env, S3EventsEnv);
  return { workerEnabled: env.S3_EVENTS_WORKER_ENABLED };
});

export type S3EventsConfig = ReturnType<typeof s3EventsConfig>;

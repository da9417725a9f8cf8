import { registerAs } from '@nestjs/config';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { validateConfig } from './validate-config';

class CallbacksEnv {
  /** How long a write callback's response is kept for retries with the same request_id. */
  @IsOptional() @IsInt() @Min(60) @Max(30 * 86_400)
  IDEMPOTENCY_TTL_SECONDS: number = 86_400;
}

export const callbacksConfig = registerAs('callbacks', () => {
  const env = validateConfig(process.env, CallbacksEnv);
  return { idempotencyTtlMs: env.IDEMPOTENCY_TTL_SECONDS * 1000 };
});

export type CallbacksConfig = ReturnType<typeof callbacksConfig>;

import { registerAs } from '@nestjs/config';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { validateConfig } from './validate-config';

class HooksEnv {
  /** A hook endpoint's pre-hook timeout when its registration gives none (the API accepts 100 ms to 30 s). */
  @IsOptional() @IsInt() @Min(100) @Max(30_000)
  HOOKS_DEFAULT_TIMEOUT_MS: number = 3000;
}

export const hooksConfig = registerAs('hooks', () => {
  const env = validateConfig(process.env, HooksEnv);
  return { defaultTimeoutMs: env.HOOKS_DEFAULT_TIMEOUT_MS };
});

export type HooksConfig = ReturnType<typeof hooksConfig>;

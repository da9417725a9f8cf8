import { registerAs } from '@nestjs/config';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { validateConfig } from './validate-config';

class ActionsEnv {
  /** WebSocket pings to each handler connection; a connection that misses one is closed. */
  @IsOptional() @IsInt() @Min(1000) @Max(600_000)
  ACTIONS_PING_INTERVAL_MS: number = 30_000;
}

export const actionsConfig = registerAs('actions', () => {
  const env = validateConfig(process.env, ActionsEnv);
  return { pingIntervalMs: env.ACTIONS_PING_INTERVAL_MS };
});

export type ActionsConfig = ReturnType<typeof actionsConfig>;

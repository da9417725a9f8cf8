import { registerAs } from '@nestjs/config';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { validateConfig } from './validate-config';

class ActionsEnv {
  /** WebSocket pings to each handler connection; a connection that misses one is closed. */
  @IsOptional() @IsInt() @Min(1000) @Max(600_000)
  ACTIONS_PING_INTERVAL_MS: number = 30_000;

  /** How often each replica looks for actions submitted elsewhere for its connected handlers, and for expired ones. */
  @IsOptional() @IsInt() @Min(50) @Max(60_000)
  ACTIONS_POLL_MS: number = 1000;

  /** An action's timeout when the submitter gives none (HIRO's default: 5 minutes). */
  @IsOptional() @IsInt() @Min(1000) @Max(604_800_000)
  ACTIONS_DEFAULT_TIMEOUT_MS: number = 300_000;

  /** The largest result stored, measured as its JSON text (a string result as sent, an object serialized); larger ones are refused (negativeAcknowledged 413). */
  @IsOptional() @IsInt() @Min(1024) @Max(16_777_216)
  ACTIONS_MAX_RESULT_BYTES: number = 1_048_576;
}

export const actionsConfig = registerAs('actions', () => {
  const env = validateConfig(process.env, ActionsEnv);
  return {
    pingIntervalMs: env.ACTIONS_PING_INTERVAL_MS,
    pollMs: env.ACTIONS_POLL_MS,
    defaultTimeoutMs: env.ACTIONS_DEFAULT_TIMEOUT_MS,
    maxResultBytes: env.ACTIONS_MAX_RESULT_BYTES,
  };
});

export type ActionsConfig = ReturnType<typeof actionsConfig>;

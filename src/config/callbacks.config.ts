import { registerAs } from '@nestjs/config';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { ENABLEMENT_METHODS, EnablementMethod } from '../callbacks/enablement-method';
import { commaList, ConfigError, validateConfig } from './validate-config';

class CallbacksEnv {
  /** How long a write callback's response is kept for retries with the same request_id. */
  @IsOptional() @IsInt() @Min(60) @Max(30 * 86_400)
  IDEMPOTENCY_TTL_SECONDS: number = 86_400;

  /** Comma-separated enablement methods whose callbacks are served (all four by default). */
  @IsOptional() @IsString()
  ENABLEMENT_METHODS: string = ENABLEMENT_METHODS.join(',');

  /**
   * Backpressure: how long a write callback may wait before it runs while deliveries are behind
   * (WEBHOOKS_MAX_LAG_MS); it then runs anyway. 0: callbacks never wait.
   */
  @IsOptional() @IsInt() @Min(0) @Max(10_000)
  CALLBACKS_BACKPRESSURE_MAX_WAIT_MS: number = 1000;
}

/** The methods named in the list; throws naming the variable on an unknown or missing one. */
export function parseEnablementMethods(list: string): Set<EnablementMethod> {
  const names = commaList(list.toLowerCase());
  const unknown = names.filter((n) => !(ENABLEMENT_METHODS as string[]).includes(n));
  if (unknown.length > 0) {
    throw new ConfigError(`Invalid configuration:\n  ENABLEMENT_METHODS=${JSON.stringify(list)}: unknown method ${unknown.map((n) => JSON.stringify(n)).join(', ')}; each must be one of ${ENABLEMENT_METHODS.join(', ')}`);
  }
  if (names.length === 0) {
    throw new ConfigError(`Invalid configuration:\n  ENABLEMENT_METHODS=${JSON.stringify(list)}: name at least one of ${ENABLEMENT_METHODS.join(', ')}`);
  }
  return new Set(names as EnablementMethod[]);
}

export const callbacksConfig = registerAs('callbacks', () => {
  const env = validateConfig(process.env, CallbacksEnv);
  return {
    idempotencyTtlMs: env.IDEMPOTENCY_TTL_SECONDS * 1000,
    enablementMethods: parseEnablementMethods(env.ENABLEMENT_METHODS),
    backpressureMaxWaitMs: env.CALLBACKS_BACKPRESSURE_MAX_WAIT_MS,
  };
});

export type CallbacksConfig = ReturnType<typeof callbacksConfig>;

import { registerAs } from '@nestjs/config';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { commaList, ConfigError, EnvBoolean, validateConfig } from './validate-config';

class AppEnv {
  @IsOptional() @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @IsOptional() @IsInt() @Min(0) @Max(65535)
  PORT: number = 8080;

  @IsOptional() @IsString()
  HOST: string = '0.0.0.0';

  /** The CyberApp's code: `{APP_CODE}` in custom callback IDs. */
  @IsOptional() @Matches(/^[a-z0-9]+(\.[a-z0-9_-]+)+$/i, { message: 'APP_CODE must look like vendor.app' })
  APP_CODE: string = 'vendor.app';

  @IsOptional() @IsString()
  TLS_CERT_FILE?: string;

  @IsOptional() @IsString()
  TLS_KEY_FILE?: string;

  /** Fastify's trustProxy: true, a hop count, or a comma-separated list of addresses/CIDRs. */
  @IsOptional() @IsString()
  TRUST_PROXY: string = 'false';

  @IsOptional() @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL: string = 'info';

  @IsOptional() @IsInt() @Min(1024) @Max(64 * 1024 * 1024)
  BODY_LIMIT_BYTES: number = 1024 * 1024;

  /**
   * An answer given before the request body was read (413 for an oversize body, 415, 404) waits
   * until the rest of the body has arrived, read and discarded, up to this many more bytes, so
   * that a client still writing gets the answer rather than a reset connection. 0: never wait.
   */
  @IsOptional() @IsInt() @Min(0) @Max(1024 * 1024 * 1024)
  BODY_DRAIN_LIMIT_BYTES: number = 8 * 1024 * 1024;

  @IsOptional() @IsInt() @Min(0) @Max(600_000)
  SHUTDOWN_TIMEOUT_MS: number = 10_000;

  /**
   * On shutdown, how long open connections get to notice it (every answer then says
   * `Connection: close`, new requests get 503) before idle ones are dropped.
   */
  @IsOptional() @IsInt() @Min(0) @Max(60_000)
  SHUTDOWN_DRAIN_MS: number = 1000;

  /** The env file loaded before anything else (see env-file.ts); declared here for completeness. */
  @IsOptional() @IsString()
  ENV_FILE?: string;

  /** Unset: human-readable when stdout is a terminal and NODE_ENV is not production (logger.options.ts). */
  @IsOptional() @EnvBoolean() @IsBoolean()
  LOG_PRETTY?: boolean;
}

export function parseTrustProxy(value: string): boolean | number | string[] {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false' || v === '') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return commaList(value);
}

export const appConfig = registerAs('app', () => {
  const env = validateConfig(process.env, AppEnv);
  if (Boolean(env.TLS_CERT_FILE) !== Boolean(env.TLS_KEY_FILE)) {
    throw new ConfigError('Invalid configuration:\n  TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  }
  return {
    nodeEnv: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    appCode: env.APP_CODE,
    tls: env.TLS_CERT_FILE && env.TLS_KEY_FILE ? { certFile: env.TLS_CERT_FILE, keyFile: env.TLS_KEY_FILE } : undefined,
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    logLevel: env.LOG_LEVEL,
    logPretty: env.LOG_PRETTY,
    bodyLimit: env.BODY_LIMIT_BYTES,
    bodyDrainLimit: env.BODY_DRAIN_LIMIT_BYTES,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    shutdownDrainMs: env.SHUTDOWN_DRAIN_MS,
  };
});

export type AppConfig = ReturnType<typeof appConfig>;

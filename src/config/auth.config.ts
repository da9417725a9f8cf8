import { registerAs } from '@nestjs/config';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUrl, Max, Min } from 'class-validator';
import { appConfig } from './app.config';
import { commaList, ConfigError, EnvBoolean, validateConfig } from './validate-config';

class AuthEnv {
  /** `required` verifies the platform's bearer JWT on every callback; default: required in production. */
  @IsOptional() @IsIn(['required', 'off'])
  CALLBACK_JWT?: 'required' | 'off';

  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] })
  CALLBACK_JWT_JWKS_URL: string = 'https://acronis.cloud/api/idp/v1/keys';

  /** Comma-separated accepted `iss` values. */
  @IsOptional() @IsString()
  CALLBACK_JWT_ISSUERS: string = 'https://acronis.cloud,https://cloud.acronis.com';

  @IsOptional() @IsInt() @Min(0) @Max(300)
  CALLBACK_JWT_CLOCK_TOLERANCE_SECONDS: number = 30;

  /**
   * A token whose `kid` the cached key set lacks refetches the JWKS, at most once in this many
   * seconds after the last fetch: a flood of made-up kids costs the IdP one request per period.
   */
  @IsOptional() @IsInt() @Min(1) @Max(3600)
  CALLBACK_JWT_JWKS_COOLDOWN_SECONDS: number = 30;

  @IsOptional() @EnvBoolean() @IsBoolean()
  AUTH_CACHE_ENABLED: boolean = true;

  @IsOptional() @IsInt() @Min(1) @Max(3600)
  AUTH_CACHE_TTL_SECONDS: number = 60;

  @IsOptional() @IsInt() @Min(1) @Max(1_000_000)
  AUTH_CACHE_MAX_ENTRIES: number = 10_000;

  /** Failed passwords allowed for one login from one client address within the window, then 429 there. */
  @IsOptional() @IsInt() @Min(1) @Max(1_000_000)
  AUTH_FAILURES_PER_IDENTITY_ADDRESS: number = 10;

  /**
   * Failed passwords for one login from all addresses together within the window; beyond it an
   * address that has not recently authenticated as that login gets one attempt per window (it
   * slows distributed guessing; addresses that recently succeeded are never refused).
   */
  @IsOptional() @IsInt() @Min(1) @Max(1_000_000)
  AUTH_FAILURES_PER_IDENTITY: number = 100;

  /** Failed logins (unknown logins, malformed headers) allowed per client address within the window before 429. */
  @IsOptional() @IsInt() @Min(1) @Max(1_000_000)
  AUTH_FAILURES_PER_ADDRESS: number = 50;

  @IsOptional() @IsInt() @Min(1) @Max(86_400)
  AUTH_FAILURE_WINDOW_SECONDS: number = 300;

  /**
   * How long a successful authentication from an address keeps that address exempt from the
   * failure limits of that login ("recently authenticated"); 0 turns the exemption off.
   */
  @IsOptional() @IsInt() @Min(0) @Max(30 * 86_400)
  AUTH_KNOWN_ADDRESS_SECONDS: number = 86_400;

  /** argon2id cost for new hashes; the defaults are argon2-cffi's (RFC 9106 low-memory). */
  @IsOptional() @IsInt() @Min(1024) @Max(4 * 1024 * 1024)
  ARGON2_MEMORY_KIB: number = 65536;

  @IsOptional() @IsInt() @Min(1) @Max(20)
  ARGON2_TIME_COST: number = 3;

  @IsOptional() @IsInt() @Min(1) @Max(16)
  ARGON2_PARALLELISM: number = 4;
}

export const authConfig = registerAs('auth', () => {
  const env = validateConfig(process.env, AuthEnv);
  const jwtMode = env.CALLBACK_JWT ?? (appConfig().nodeEnv === 'production' ? 'required' : 'off');
  const issuers = commaList(env.CALLBACK_JWT_ISSUERS);
  if (issuers.length === 0) {
    // An empty list would refuse every token: fail the boot instead.
    throw new ConfigError('Invalid configuration:\n  CALLBACK_JWT_ISSUERS must name at least one issuer');
  }
  return {
    jwt: {
      mode: jwtMode,
      jwksUrl: env.CALLBACK_JWT_JWKS_URL,
      issuers,
      clockToleranceSeconds: env.CALLBACK_JWT_CLOCK_TOLERANCE_SECONDS,
      jwksCooldownMs: env.CALLBACK_JWT_JWKS_COOLDOWN_SECONDS * 1000,
    },
    cache: {
      enabled: env.AUTH_CACHE_ENABLED,
      ttlMs: env.AUTH_CACHE_TTL_SECONDS * 1000,
      maxEntries: env.AUTH_CACHE_MAX_ENTRIES,
    },
    failures: {
      perIdentityAddress: env.AUTH_FAILURES_PER_IDENTITY_ADDRESS,
      perIdentity: env.AUTH_FAILURES_PER_IDENTITY,
      perAddress: env.AUTH_FAILURES_PER_ADDRESS,
      windowSeconds: env.AUTH_FAILURE_WINDOW_SECONDS,
      knownAddressSeconds: env.AUTH_KNOWN_ADDRESS_SECONDS,
    },
    argon2: {
      memoryCost: env.ARGON2_MEMORY_KIB,
      timeCost: env.ARGON2_TIME_COST,
      parallelism: env.ARGON2_PARALLELISM,
    },
  };
});

export type AuthConfig = ReturnType<typeof authConfig>;

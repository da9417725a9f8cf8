import { registerAs } from '@nestjs/config';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { EnvBoolean, validateConfig } from './validate-config';

class ConsoleEnv {
  /** Serve the operator console under /console (false: those paths answer 404). */
  @IsOptional() @EnvBoolean() @IsBoolean()
  CONSOLE_ENABLED: boolean = true;

  /** A session unused (pages opened, forms sent; not the lists' background refresh) this long ends. */
  @IsOptional() @IsInt() @Min(1) @Max(7 * 86_400)
  CONSOLE_SESSION_IDLE_SECONDS: number = 1800;

  /** A session ends this long after its sign-in, however busy. */
  @IsOptional() @IsInt() @Min(1) @Max(30 * 86_400)
  CONSOLE_SESSION_MAX_SECONDS: number = 43_200;

  /**
   * The keys that sign the console's cookies, comma-separated, each at least 32 characters: the
   * first signs, every one verifies (to rotate, put the new key first and drop the old one after
   * CONSOLE_SESSION_MAX_SECONDS). Unset: a random key per process, so sessions end on restart and
   * only work on the replica that issued them.
   */
  @IsOptional() @IsString()
  CONSOLE_COOKIE_SECRET?: string;

  /** `auto`: Secure when the request came over https (TLS here, or X-Forwarded-Proto from a TRUST_PROXY proxy). */
  @IsOptional() @IsIn(['auto', 'always', 'never'])
  CONSOLE_COOKIE_SECURE: 'auto' | 'always' | 'never' = 'auto';

  /**
   * The overview's counts stop here (shown as "1000+"): each reads at most this many index
   * entries, so the page answers as fast with millions of rows stored as with none.
   */
  @IsOptional() @IsInt() @Min(10) @Max(1_000_000)
  CONSOLE_OVERVIEW_COUNT_CAP: number = 1000;
}

export const consoleConfig = registerAs('console', () => {
  const env = validateConfig(process.env, ConsoleEnv);
  const secrets = env.CONSOLE_COOKIE_SECRET === undefined ? [] : env.CONSOLE_COOKIE_SECRET.split(',').map((s) => s.trim());
  if (secrets.some((s) => s.length < 32)) {
    throw new Error('Invalid configuration:\n  CONSOLE_COOKIE_SECRET=[redacted]: every comma-separated key must be at least 32 characters long');
  }
  return {
    enabled: env.CONSOLE_ENABLED,
    idleMs: env.CONSOLE_SESSION_IDLE_SECONDS * 1000,
    maxMs: env.CONSOLE_SESSION_MAX_SECONDS * 1000,
    cookieSecrets: secrets,
    cookieSecure: env.CONSOLE_COOKIE_SECURE,
    overviewCountCap: env.CONSOLE_OVERVIEW_COUNT_CAP,
  };
});

export type ConsoleConfig = ReturnType<typeof consoleConfig>;

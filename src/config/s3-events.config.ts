import { registerAs } from '@nestjs/config';
import { IsBoolean, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { commaList, EnvBoolean, validateConfig } from './validate-config';

class S3EventsEnv {
  /** Run the inbox worker (actions on object-storage events) in this process. */
  @IsOptional() @EnvBoolean() @IsBoolean()
  S3_EVENTS_WORKER_ENABLED: boolean = true;

  /** Inbox records processed at once in this process (their actions run one after another). */
  @IsOptional() @IsInt() @Min(1) @Max(256)
  S3_EVENTS_CONCURRENCY: number = 4;

  /** Tries per record (each try re-runs only the actions that have not succeeded yet) before it is marked failed. */
  @IsOptional() @IsInt() @Min(1) @Max(100)
  S3_EVENTS_MAX_ATTEMPTS: number = 6;

  /** Exponential backoff between tries: base × 2^(try-1), full jitter, capped. */
  @IsOptional() @IsInt() @Min(1) @Max(3_600_000)
  S3_EVENTS_BACKOFF_BASE_MS: number = 1000;

  @IsOptional() @IsInt() @Min(1) @Max(86_400_000)
  S3_EVENTS_BACKOFF_MAX_MS: number = 300_000;

  /** Milliseconds between polls for due records when nothing woke the worker. */
  @IsOptional() @IsInt() @Min(10) @Max(60_000)
  S3_EVENTS_POLL_MS: number = 1000;

  /** How long a claim lasts without renewal (renewed every third of it while the record's actions run). */
  @IsOptional() @IsInt() @Min(300) @Max(3_600_000)
  S3_EVENTS_CLAIM_TTL_MS: number = 30_000;

  /** Default timeout of one action run (a command or one S3 request); an action may set its own. */
  @IsOptional() @IsInt() @Min(100) @Max(3_600_000)
  S3_EVENTS_ACTION_TIMEOUT_MS: number = 60_000;

  /** Bytes of a command's stdout and of its stderr kept with an attempt. */
  @IsOptional() @IsInt() @Min(0) @Max(1_048_576)
  S3_EVENTS_OUTPUT_LIMIT: number = 4096;

  /** Records one POST may carry (413 beyond); the body size is bounded by BODY_LIMIT_BYTES too. */
  @IsOptional() @IsInt() @Min(1) @Max(100_000)
  S3_EVENTS_MAX_RECORDS: number = 1000;

  /**
   * Comma-separated absolute paths of the executables a `command` action may run (its argv[0]).
   * Empty (the default): command actions are refused, since sources are configured through the API.
   */
  @IsOptional() @IsString()
  S3_EVENTS_ALLOWED_COMMANDS: string = '';

  /**
   * Comma-separated hosts, addresses or CIDR ranges a `replicate` endpoint may use although private,
   * loopback or link-local (tests and local S3 servers: `127.0.0.1/8`). Empty: such endpoints are refused.
   */
  @IsOptional() @IsString()
  S3_EVENTS_ALLOWED_PRIVATE: string = '';

  /** Run commands under `setpriv --pdeathsig KILL` (when installed) so that they die with the worker. */
  @IsOptional() @EnvBoolean() @IsBoolean()
  S3_EVENTS_COMMAND_DIE_WITH_WORKER: boolean = true;

  /** Bytes an object may have for a `replicate` between two endpoints (it goes through memory). */
  @IsOptional() @IsInt() @Min(1) @Max(5_368_709_120)
  S3_EVENTS_REPLICATE_MAX_BYTES: number = 104_857_600;
}

export const s3EventsConfig = registerAs('s3Events', () => {
  const env = validateConfig(process.env, S3EventsEnv);
  return {
    workerEnabled: env.S3_EVENTS_WORKER_ENABLED,
    concurrency: env.S3_EVENTS_CONCURRENCY,
    maxAttempts: env.S3_EVENTS_MAX_ATTEMPTS,
    backoffBaseMs: env.S3_EVENTS_BACKOFF_BASE_MS,
    backoffMaxMs: env.S3_EVENTS_BACKOFF_MAX_MS,
    pollMs: env.S3_EVENTS_POLL_MS,
    claimTtlMs: env.S3_EVENTS_CLAIM_TTL_MS,
    actionTimeoutMs: env.S3_EVENTS_ACTION_TIMEOUT_MS,
    outputLimit: env.S3_EVENTS_OUTPUT_LIMIT,
    maxRecords: env.S3_EVENTS_MAX_RECORDS,
    allowedCommands: commaList(env.S3_EVENTS_ALLOWED_COMMANDS),
    allowedPrivate: commaList(env.S3_EVENTS_ALLOWED_PRIVATE),
    commandDieWithWorker: env.S3_EVENTS_COMMAND_DIE_WITH_WORKER,
    replicateMaxBytes: env.S3_EVENTS_REPLICATE_MAX_BYTES,
  };
});

export type S3EventsConfig = ReturnType<typeof s3EventsConfig>;

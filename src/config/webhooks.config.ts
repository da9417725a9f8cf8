import { registerAs } from '@nestjs/config';
import { IsBoolean, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { commaList, EnvBoolean, validateConfig } from './validate-config';

class WebhooksEnv {
  /** Run the dispatcher and the delivery worker in this process (several replicas may all run them). */
  @IsOptional() @EnvBoolean() @IsBoolean()
  WEBHOOKS_WORKER_ENABLED: boolean = true;

  /** Deliveries in flight at once in this process. */
  @IsOptional() @IsInt() @Min(1) @Max(1024)
  WEBHOOKS_CONCURRENCY: number = 64;

  /** Deliveries in flight at once to one subscription, so that a slow endpoint cannot take every slot. */
  @IsOptional() @IsInt() @Min(1) @Max(1024)
  WEBHOOKS_CONCURRENCY_PER_SUBSCRIPTION: number = 8;

  /** Tries per delivery before it is marked failed (CloudStack: 3, back to back). */
  @IsOptional() @IsInt() @Min(1) @Max(100)
  WEBHOOKS_MAX_ATTEMPTS: number = 8;

  /** Per-attempt timeout: connect, send and the whole answer. */
  @IsOptional() @IsInt() @Min(100) @Max(600_000)
  WEBHOOKS_TIMEOUT_MS: number = 10_000;

  /** Exponential backoff: base × 2^(attempt-1), with full jitter, capped; a Retry-After is honoured. */
  @IsOptional() @IsInt() @Min(1) @Max(3_600_000)
  WEBHOOKS_BACKOFF_BASE_MS: number = 1000;

  @IsOptional() @IsInt() @Min(1) @Max(86_400_000)
  WEBHOOKS_BACKOFF_MAX_MS: number = 3_600_000;

  /** Only HTTP 200 counts as delivered (CloudStack's rule); otherwise any 2xx does. */
  @IsOptional() @EnvBoolean() @IsBoolean()
  WEBHOOKS_SUCCESS_200_ONLY: boolean = false;

  /**
   * Comma-separated hosts, addresses or CIDR ranges allowed although private, loopback or
   * link-local (tests and local demos: `127.0.0.1/8,::1`). Empty: all such addresses are refused.
   */
  @IsOptional() @IsString()
  WEBHOOKS_ALLOWED_PRIVATE: string = '';

  /**
   * Days a finished delivery (succeeded or failed, with its attempts) is kept; a failed one (a
   * dead letter) is never swept before this age, whatever the count cap says.
   */
  @IsOptional() @IsInt() @Min(1) @Max(3650)
  WEBHOOKS_RETENTION_DAYS: number = 30;

  /**
   * Optional cap: succeeded deliveries beyond the newest N of a subscription are swept before
   * their age (CloudStack keeps 10). 0: no cap. Failed ones are never swept by the cap.
   */
  @IsOptional() @IsInt() @Min(0) @Max(1_000_000)
  WEBHOOKS_RETENTION_PER_SUBSCRIPTION: number = 0;

  /** Minutes between retention sweeps; 0 turns the sweep off. */
  @IsOptional() @IsInt() @Min(0) @Max(7 * 24 * 60)
  WEBHOOKS_RETENTION_INTERVAL_MINUTES: number = 10;

  /** Hours a rotated-out secret still signs deliveries (both signatures are sent meanwhile). */
  @IsOptional() @IsInt() @Min(0) @Max(24 * 30)
  WEBHOOKS_ROTATION_OVERLAP_HOURS: number = 24;

  /** Bytes of a receiver's answer kept with an attempt. */
  @IsOptional() @IsInt() @Min(0) @Max(65_536)
  WEBHOOKS_RESPONSE_BODY_LIMIT: number = 1024;

  /**
   * On shutdown, how long attempts in flight may take to finish; the claims of those still running
   * are then given back. Keep it below SHUTDOWN_TIMEOUT_MS.
   */
  @IsOptional() @IsInt() @Min(0) @Max(600_000)
  WEBHOOKS_SHUTDOWN_GRACE_MS: number = 5000;

  /**
   * Hours a subscription may fail every attempt (none succeeding) before the gateway disables it,
   * with a `webhook.subscription.disabled` event; 0: never. Default 5 days.
   */
  @IsOptional() @IsInt() @Min(0) @Max(24 * 365)
  WEBHOOKS_AUTO_DISABLE_AFTER_HOURS: number = 120;

  /** Milliseconds between polls for due deliveries and undispatched events when nothing woke the worker. */
  @IsOptional() @IsInt() @Min(10) @Max(60_000)
  WEBHOOKS_POLL_MS: number = 1000;

  /**
   * How long a delivery's claim (a lease) lasts unless renewed; a live worker renews its leases every
   * third of this, so a dead replica's deliveries are taken over within about this long.
   */
  @IsOptional() @IsInt() @Min(1000) @Max(600_000)
  WEBHOOKS_LEASE_MS: number = 6000;

  /**
   * Backpressure (docs/architecture.md): while the deliveries the worker claims are later than
   * this on a busy process, write callbacks wait (CALLBACKS_BACKPRESSURE_MAX_WAIT_MS at most). 0: never.
   */
  @IsOptional() @IsInt() @Min(0) @Max(3_600_000)
  WEBHOOKS_MAX_LAG_MS: number = 250;
}

export const webhooksConfig = registerAs('webhooks', () => {
  const env = validateConfig(process.env, WebhooksEnv);
  return {
    workerEnabled: env.WEBHOOKS_WORKER_ENABLED,
    concurrency: env.WEBHOOKS_CONCURRENCY,
    concurrencyPerSubscription: env.WEBHOOKS_CONCURRENCY_PER_SUBSCRIPTION,
    maxAttempts: env.WEBHOOKS_MAX_ATTEMPTS,
    timeoutMs: env.WEBHOOKS_TIMEOUT_MS,
    backoffBaseMs: env.WEBHOOKS_BACKOFF_BASE_MS,
    backoffMaxMs: env.WEBHOOKS_BACKOFF_MAX_MS,
    success200Only: env.WEBHOOKS_SUCCESS_200_ONLY,
    allowedPrivate: commaList(env.WEBHOOKS_ALLOWED_PRIVATE),
    retentionPerSubscription: env.WEBHOOKS_RETENTION_PER_SUBSCRIPTION,
    retentionMs: env.WEBHOOKS_RETENTION_DAYS * 24 * 60 * 60_000,
    retentionIntervalMs: env.WEBHOOKS_RETENTION_INTERVAL_MINUTES * 60_000,
    rotationOverlapMs: env.WEBHOOKS_ROTATION_OVERLAP_HOURS * 3_600_000,
    responseBodyLimit: env.WEBHOOKS_RESPONSE_BODY_LIMIT,
    pollMs: env.WEBHOOKS_POLL_MS,
    leaseMs: env.WEBHOOKS_LEASE_MS,
    shutdownGraceMs: env.WEBHOOKS_SHUTDOWN_GRACE_MS,
    autoDisableAfterMs: env.WEBHOOKS_AUTO_DISABLE_AFTER_HOURS * 3_600_000,
    maxLagMs: env.WEBHOOKS_MAX_LAG_MS,
  };
});

export type WebhooksConfig = ReturnType<typeof webhooksConfig>;

import { registerAs } from '@nestjs/config';
import { IsBoolean, IsInt, IsOptional, IsString, IsUrl, Length, Matches, Max, Min } from 'class-validator';
import { AllowedHost, DEFAULT_ALLOWED_DC_HOSTS, parseAllowedHosts } from '../connector/datacenter-policy';
import { ConfigError, EnvBoolean, validateConfig } from './validate-config';

class ConnectorEnv {
  /** The sample's connector.json `client_id` / `client_secret` / `dc_url`. Any missing: connector off. */
  @IsOptional() @IsString()
  ACRONIS_CLIENT_ID?: string;

  @IsOptional() @IsString()
  ACRONIS_CLIENT_SECRET?: string;

  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] })
  ACRONIS_DC_URL?: string;

  /**
   * Data-center hosts a mapping's `datacenter_url` may name (comma-separated; `*.domain` for
   * subdomains; `http://host` to allow plain HTTP, for local test servers). ACRONIS_DC_URL's host
   * is always allowed.
   */
  @IsOptional() @IsString()
  ACRONIS_DC_ALLOWED_HOSTS: string = DEFAULT_ALLOWED_DC_HOSTS;

  /** Minutes between scheduled runs; 0 turns the schedule off (runs on demand only). */
  @IsOptional() @IsInt() @Min(0) @Max(7 * 24 * 60)
  CONNECTOR_INTERVAL_MINUTES: number = 30;

  /** Pushes in flight at once. */
  @IsOptional() @IsInt() @Min(1) @Max(256)
  CONNECTOR_CONCURRENCY: number = 8;

  /** Attempts per item before it is marked failed. */
  @IsOptional() @IsInt() @Min(1) @Max(100)
  CONNECTOR_MAX_ATTEMPTS: number = 8;

  @IsOptional() @IsInt() @Min(100) @Max(600_000)
  CONNECTOR_REQUEST_TIMEOUT_MS: number = 10_000;

  /** Exponential backoff: base × 2^(attempt-1), with full jitter, capped. */
  @IsOptional() @IsInt() @Min(1) @Max(3_600_000)
  CONNECTOR_BACKOFF_BASE_MS: number = 1000;

  @IsOptional() @IsInt() @Min(1) @Max(86_400_000)
  CONNECTOR_BACKOFF_MAX_MS: number = 300_000;

  /** The sample's demo generator: random alerts and workloads per mapped tenant on each run. */
  @IsOptional() @EnvBoolean() @IsBoolean()
  CONNECTOR_DEMO_ENABLED: boolean = false;

  @IsOptional() @IsInt() @Min(0) @Max(1000)
  CONNECTOR_DEMO_ALERTS_PER_TENANT: number = 1;

  @IsOptional() @IsInt() @Min(0) @Max(1000)
  CONNECTOR_DEMO_WORKLOADS_PER_TENANT: number = 1;

  /** How long a run's lease lasts without renewal (another replica takes over after it). */
  @IsOptional() @IsInt() @Min(5) @Max(86_400)
  CONNECTOR_LEASE_SECONDS: number = 300;

  /**
   * Longest a run keeps going: it sends while items are due and waits for retries that come due
   * within this time; what is left waits for the next run.
   */
  @IsOptional() @IsInt() @Min(1) @Max(86_400)
  CONNECTOR_MAX_PASS_SECONDS: number = 1800;

  /**
   * The workload attribute that carries the vendor's stable key of a device, set by the gateway
   * on every workload it writes and used to find the workload again. Declare it (a string) in the
   * Version's workload attribute schema: the platform validates attributes against it.
   */
  @IsOptional() @IsString() @Matches(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, { message: 'CONNECTOR_WORKLOAD_KEY_ATTRIBUTE must be an attribute name (letters, digits, _)' })
  CONNECTOR_WORKLOAD_KEY_ATTRIBUTE: string = 'vendor_key';

  /** The alerts' `_source`: which producer created them. */
  @IsOptional() @IsString() @Length(1, 255)
  CONNECTOR_ALERT_SOURCE: string = 'cyberapp-gateway';

  /**
   * When a tenant stops being mapped (unmapped, partner reset, mirrored customer disabled): dismiss
   * the alerts and delete the workloads the gateway put there.
   */
  @IsOptional() @EnvBoolean() @IsBoolean()
  CONNECTOR_CLEANUP_ON_UNMAP: boolean = true;

  /** Largest intake batch (items per POST). */
  @IsOptional() @IsInt() @Min(1) @Max(10_000)
  CONNECTOR_INTAKE_MAX_BATCH: number = 500;
}

export const connectorConfig = registerAs('connector', () => {
  const env = validateConfig(process.env, ConnectorEnv);
  const credentials =
    env.ACRONIS_CLIENT_ID && env.ACRONIS_CLIENT_SECRET && env.ACRONIS_DC_URL
      ? { clientId: env.ACRONIS_CLIENT_ID, clientSecret: env.ACRONIS_CLIENT_SECRET, dcUrl: env.ACRONIS_DC_URL.replace(/\/+$/, '') }
      : null;
  let allowedDcHosts: AllowedHost[];
  try {
    allowedDcHosts = parseAllowedHosts(env.ACRONIS_DC_ALLOWED_HOSTS);
  } catch (error) {
    throw new ConfigError(`Invalid configuration:\n  ACRONIS_DC_ALLOWED_HOSTS: ${(error as Error).message}`);
  }
  if (credentials) {
    const dc = new URL(credentials.dcUrl);
    allowedDcHosts = [...allowedDcHosts, { host: dc.hostname.toLowerCase(), wildcard: false, allowHttp: dc.protocol === 'http:' }];
  }
  return {
    credentials,
    allowedDcHosts,
    intervalMs: env.CONNECTOR_INTERVAL_MINUTES * 60_000,
    concurrency: env.CONNECTOR_CONCURRENCY,
    maxAttempts: env.CONNECTOR_MAX_ATTEMPTS,
    requestTimeoutMs: env.CONNECTOR_REQUEST_TIMEOUT_MS,
    backoffBaseMs: env.CONNECTOR_BACKOFF_BASE_MS,
    backoffMaxMs: env.CONNECTOR_BACKOFF_MAX_MS,
    demo: {
      enabled: env.CONNECTOR_DEMO_ENABLED,
      alertsPerTenant: env.CONNECTOR_DEMO_ALERTS_PER_TENANT,
      workloadsPerTenant: env.CONNECTOR_DEMO_WORKLOADS_PER_TENANT,
    },
    leaseMs: env.CONNECTOR_LEASE_SECONDS * 1000,
    maxPassMs: env.CONNECTOR_MAX_PASS_SECONDS * 1000,
    intakeMaxBatch: env.CONNECTOR_INTAKE_MAX_BATCH,
    workloadKeyAttribute: env.CONNECTOR_WORKLOAD_KEY_ATTRIBUTE,
    alertSource: env.CONNECTOR_ALERT_SOURCE,
    cleanupOnUnmap: env.CONNECTOR_CLEANUP_ON_UNMAP,
  };
});

export type ConnectorConfig = ReturnType<typeof connectorConfig>;

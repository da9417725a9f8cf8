import type { FakeAcronisApi } from '../fakes/fake-acronis-api';

/**
 * Environment for an app whose connector talks to `api`: no schedule (tests call runOnce),
 * short backoff and timeouts so that retries happen within a test.
 */
export function connectorEnv(api: FakeAcronisApi, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ACRONIS_CLIENT_ID: api.clientId,
    ACRONIS_CLIENT_SECRET: api.clientSecret,
    ACRONIS_DC_URL: api.url,
    CONNECTOR_INTERVAL_MINUTES: '0',
    CONNECTOR_CONCURRENCY: '4',
    CONNECTOR_MAX_ATTEMPTS: '3',
    CONNECTOR_BACKOFF_BASE_MS: '20',
    CONNECTOR_BACKOFF_MAX_MS: '100',
    CONNECTOR_REQUEST_TIMEOUT_MS: '2000',
    CONNECTOR_LEASE_SECONDS: '5',
    CONNECTOR_MAX_PASS_SECONDS: '30',
    ...extra,
  };
}

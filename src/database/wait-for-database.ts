import { Client } from 'pg';
import { BootError } from '../common/boot-error';
import { describeDatabase, type DatabaseConfig } from '../config/database.config';

/** Pause between two connection attempts. */
const RETRY_MS = 500;

/** SQLSTATE classes that another attempt will not change: bad credentials (28), no such database (3D). */
function isFinal(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^(28|3D)/.test(code);
}

/**
 * Before the service or a command starts: waits until PostgreSQL accepts a connection, trying
 * again every half second for up to DATABASE_CONNECT_TIMEOUT_MS (each attempt bounded by what is
 * left, so a host that never answers cannot stall it), then fails with one message naming the
 * server. Refused credentials or an unknown database fail at once. SQLite needs no wait.
 */
export async function waitForDatabase(config: DatabaseConfig): Promise<void> {
  if (config.type !== 'postgres') return;
  const deadline = Date.now() + config.connectTimeoutMs;
  let last: unknown;
  do {
    const client = new Client({ connectionString: config.url, connectionTimeoutMillis: Math.max(1, deadline - Date.now()) });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      last = error;
      await client.end().catch(() => undefined);
      if (isFinal(error)) throw new BootError(`${describeDatabase(config)} refused the connection: ${(error as Error).message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(RETRY_MS, deadline - Date.now()))));
  } while (Date.now() < deadline);
  const reason = last instanceof Error ? last.message : String(last);
  throw new BootError(
    `${describeDatabase(config)} did not accept a connection within ${config.connectTimeoutMs} ms (DATABASE_CONNECT_TIMEOUT_MS): ${reason}`,
  );
}

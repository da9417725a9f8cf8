import { config } from 'dotenv';

/** The env file everything reads: ENV_FILE, else `.env` in the working directory. */
export function envFilePath(): string {
  return process.env.ENV_FILE ?? '.env';
}

/**
 * Loads `.env` (or the file named by ENV_FILE) into process.env, never overriding variables that
 * are already set. Called first by everything that reads config (server, migration CLI, CLI), so
 * a value in `.env` means the same everywhere: also for what is read before Nest starts (body
 * limit, TLS, proxy trust). Says which file and whether there was one.
 */
export function loadEnvFile(): { path: string; loaded: boolean } {
  const path = envFilePath();
  const { error } = config({ path, quiet: true });
  return { path, loaded: !error };
}

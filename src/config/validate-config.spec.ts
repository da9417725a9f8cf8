import { appConfig } from './app.config';
import { authConfig } from './auth.config';
import { readDatabaseConfig } from './database.config';

/** Runs `read` with exactly these config variables set (others cleared), for config unit specs. */
function withEnvSync<T>(env: Record<string, string>, read: () => T): T {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) {
    if (/^(NODE_ENV|PORT|HOST|APP_CODE|TLS_|TRUST_PROXY|LOG_|BODY_LIMIT|SHUTDOWN|CALLBACK_|AUTH_|ARGON2_|DATABASE_|SQLITE_|IDEMPOTENCY_)/.test(key)) delete process.env[key];
  }
  Object.assign(process.env, env);
  try {
    return read();
  } finally {
    process.env = saved;
  }
}

describe('configuration', () => {
  it('has defaults fit for the embedded setup', () => {
    const app = withEnvSync({}, () => appConfig());
    expect(app).toMatchObject({ port: 8080, appCode: 'vendor.app', bodyLimit: 1024 * 1024, trustProxy: false, tls: undefined });
    expect(readDatabaseConfig({})).toMatchObject({ type: 'sqlite', sqlitePath: './data/gateway.db' });
  });

  it('stops on a bad value with a message naming the variable', () => {
    expect(() => withEnvSync({ PORT: 'abc' }, () => appConfig())).toThrow(/PORT/);
    expect(() => withEnvSync({ AUTH_CACHE_ENABLED: 'maybe' }, () => authConfig())).toThrow(/AUTH_CACHE_ENABLED/);
    expect(() => readDatabaseConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
  });

  it('parses booleans and numbers from strings', () => {
    expect(withEnvSync({ AUTH_CACHE_ENABLED: 'false', AUTH_CACHE_TTL_SECONDS: '5' }, () => authConfig()).cache).toMatchObject({ enabled: false, ttlMs: 5000 });
  });

  it('requires the platform JWT by default in production only', () => {
    expect(withEnvSync({ NODE_ENV: 'production' }, () => authConfig()).jwt.mode).toBe('required');
    expect(withEnvSync({ NODE_ENV: 'development' }, () => authConfig()).jwt.mode).toBe('off');
    expect(withEnvSync({ NODE_ENV: 'production', CALLBACK_JWT: 'off' }, () => authConfig()).jwt.mode).toBe('off');
  });

  it('selects PostgreSQL by DATABASE_URL', () => {
    expect(readDatabaseConfig({ DATABASE_URL: 'postgres://u@h/db' })).toMatchObject({ type: 'postgres', url: 'postgres://u@h/db' });
  });
});

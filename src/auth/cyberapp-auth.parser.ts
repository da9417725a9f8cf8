export interface CyberAppCredentials {
  /** The user's login, lower-cased. */
  identity: string;
  password: string;
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const MAX_HEADER_LENGTH = 8 * 1024;

function decodeBase64(value: string): string | null {
  const compact = value.trim();
  if (compact.length === 0 || !BASE64.test(compact)) return null;
  const text = Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64').toString('utf8');
  return text.includes('\uFFFD') ? null : text;
}

/**
 * Parses `X-CyberApp-Auth`: base64 of `<identity>:<secrets JSON>` as the platform sends it, or the
 * same text un-encoded as the sample's README shows it (the plain form contains `{`, which base64
 * never does). Splits at the first `:`; the password is `secrets.password`. Returns null for
 * anything malformed, without saying what: every failure answers the same 401.
 */
export function parseCyberAppAuth(header: string | string[] | undefined): CyberAppCredentials | null {
  if (typeof header !== 'string' || header.length === 0 || header.length > MAX_HEADER_LENGTH) return null;
  const text = header.includes('{') ? header : decodeBase64(header);
  if (text === null) return null;
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  let secrets: unknown;
  try {
    secrets = JSON.parse(text.slice(colon + 1));
  } catch {
    return null;
  }
  if (secrets === null || typeof secrets !== 'object' || Array.isArray(secrets)) return null;
  return credentialsOf(text.slice(0, colon), (secrets as Record<string, unknown>).password);
}

/**
 * Credentials as every sign-in path takes them (the header above, the console's form): the login
 * trimmed and lower-cased, both non-empty, bounded, without NUL; null otherwise.
 */
export function credentialsOf(login: unknown, password: unknown): CyberAppCredentials | null {
  if (typeof login !== 'string' || typeof password !== 'string') return null;
  const identity = login.trim().toLowerCase();
  if (identity.length === 0 || password.length === 0 || identity.length + password.length > MAX_HEADER_LENGTH) return null;
  if (identity.includes('\u0000') || password.includes('\u0000')) return null;
  return { identity, password };
}

/** Parses `X-CyberApp-Extra` (base64 JSON, vendor-defined) leniently: anything odd is `{}`. */
export function parseCyberAppExtra(header: string | string[] | undefined): Record<string, unknown> {
  if (typeof header !== 'string' || header.length === 0 || header.length > MAX_HEADER_LENGTH) return {};
  const text = header.trimStart().startsWith('{') ? header : decodeBase64(header);
  if (text === null) return {};
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Which Acronis data centers the connector may talk to. A mapping records the data center the
 * platform called from (`context.datacenter_url`); since the connector sends its client secret
 * there, a forged URL must never be accepted. Entries of `ACRONIS_DC_ALLOWED_HOSTS`:
 * - `host` or `*.domain` (any subdomain of domain): HTTPS only, any port;
 * - `http://host` or `http://*.domain`: plain HTTP allowed too (local test servers only).
 * The host of `ACRONIS_DC_URL` is always allowed, with that URL's scheme.
 */

export interface AllowedHost {
  /** Lower-case host name, or the domain of a wildcard. */
  host: string;
  wildcard: boolean;
  allowHttp: boolean;
}

/** The default list: Acronis's own domains. */
export const DEFAULT_ALLOWED_DC_HOSTS = 'acronis.com,*.acronis.com,acronis.cloud,*.acronis.cloud';

/** Parses the comma-separated list; throws on an entry that is not a host pattern. */
export function parseAllowedHosts(list: string): AllowedHost[] {
  return list
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '')
    .map((entry): AllowedHost => {
      const allowHttp = entry.startsWith('http://');
      const pattern = entry.replace(/^https?:\/\//, '');
      const wildcard = pattern.startsWith('*.');
      const host = wildcard ? pattern.slice(2) : pattern;
      if (!/^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$/.test(host) || host.startsWith('.') || host.endsWith('.')) {
        throw new Error(`not a host pattern: ${JSON.stringify(entry)}`);
      }
      return { host, wildcard, allowHttp };
    });
}

/**
 * Why `url` may not be used as a data center (a sentence for an error message), or null when it
 * may: it must be an absolute http(s) URL without credentials, query or fragment, whose host an
 * entry allows (and whose scheme is HTTPS unless that entry allows HTTP).
 */
export function datacenterUrlProblem(url: string, allowed: readonly AllowedHost[]): string | null {
  const shape = datacenterUrlShapeProblem(url);
  if (shape) return shape;
  const parsed = new URL(url);
  const host = parsed.hostname.toLowerCase();
  const entry = allowed.find((a) => (a.wildcard ? host.endsWith(`.${a.host}`) : host === a.host));
  if (!entry) return `datacenter_url host ${host} is not an allowed Acronis data center (ACRONIS_DC_ALLOWED_HOSTS)`;
  if (parsed.protocol === 'http:' && !entry.allowHttp) return 'datacenter_url must use https';
  return null;
}

/** Why `url` is not a data center URL at all (whatever the allowed hosts), or null. */
export function datacenterUrlShapeProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'datacenter_url is not a URL';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'datacenter_url must be an http(s) URL';
  if (parsed.username || parsed.password || parsed.search || parsed.hash) return 'datacenter_url must not carry credentials, a query or a fragment';
  return null;
}

/** A data center URL as stored and compared: origin and path, no trailing slash. */
export function normalizeDatacenterUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

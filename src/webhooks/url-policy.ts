import ipaddr from 'ipaddr.js';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { DomainError, ErrorCode } from '../common/domain-error';

export const MAX_PAYLOAD_URL_LENGTH = 2048;

/** Error code of a connection refused by {@link UrlPolicy.lookup} or {@link UrlPolicy.checkAddressLiteral}. */
export const BLOCKED_CODE = 'EBLOCKED';

/** Resolves a host name to all its addresses (`dns.lookup(host, { all: true })` by default). */
export type ResolveAll = (hostname: string, family?: number) => Promise<LookupAddress[]>;

const resolveWithDns: ResolveAll = (hostname, family) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, family: family ?? 0 }, (err, addresses) => (err ? reject(err) : resolve(addresses)));
  });

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

const ALLOW_HINT = 'allow it with WEBHOOKS_ALLOWED_PRIVATE';

/**
 * Which payload URLs and addresses webhooks may reach (docs/architecture.md, flow 2, Safety): only public unicast
 * addresses, unless an allow-list entry (a host name, an IP or a CIDR range) permits more.
 * Checked when a subscription is saved ({@link checkUrl}) and again on every connection
 * ({@link lookup}, {@link checkAddressLiteral}) so that DNS rebinding cannot slip past.
 */
export class UrlPolicy {
  private readonly hosts = new Set<string>();
  private readonly ranges: Cidr[] = [];

  constructor(
    allowed: string[],
    private readonly resolveAll: ResolveAll = resolveWithDns,
  ) {
    for (const raw of allowed) {
      const entry = raw.trim();
      if (entry === '') continue;
      const cidr = parseCidr(entry);
      if (cidr) this.ranges.push(cidr);
      else this.hosts.add(stripBrackets(entry).toLowerCase());
    }
  }

  /** Whether a connection to this IP address is allowed: public unicast, or allow-listed. */
  isAllowedAddress(ip: string): boolean {
    const plain = stripBrackets(ip);
    if (isIP(plain) === 0) return false;
    const raw = ipaddr.parse(plain);
    // An IPv4-mapped IPv6 address (::ffff:127.0.0.1) reaches the IPv4 host: judge that one.
    const address = raw instanceof ipaddr.IPv6 && raw.isIPv4MappedAddress() ? raw.toIPv4Address() : raw;
    if (address.range() === 'unicast') return true;
    return this.ranges.some(([net, bits]) => inRange(address, net, bits) || (raw !== address && inRange(raw, net, bits)));
  }

  /** Whether this host name is allow-listed as such (exact match, case-insensitive). */
  isAllowedHost(hostname: string): boolean {
    return this.hosts.size > 0 && this.hosts.has(stripBrackets(hostname).toLowerCase());
  }

  /**
   * Validates a payload URL and returns it parsed, or throws a VALIDATION_FAILED DomainError
   * naming the problem. Resolves the host: every address must be allowed.
   */
  async checkUrl(raw: string, sslVerification: boolean): Promise<URL> {
    if (raw.length > MAX_PAYLOAD_URL_LENGTH) invalid(`payload_url is longer than ${MAX_PAYLOAD_URL_LENGTH} characters`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return invalid('payload_url is not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') invalid('payload_url must use http or https');
    if (url.username !== '' || url.password !== '') invalid('payload_url must not contain credentials');
    if (url.protocol === 'http:' && sslVerification) invalid('payload_url must be https when ssl_verification is on');

    const host = stripBrackets(url.hostname);
    if (host === '') invalid('payload_url has no host');
    if (this.isAllowedHost(host)) return url;
    if (isIP(host) !== 0) {
      if (!this.isAllowedAddress(host)) {
        invalid(`payload_url address ${host} is a private, loopback or link-local address; ${ALLOW_HINT}`);
      }
      return url;
    }

    let addresses: LookupAddress[];
    try {
      addresses = await this.resolveAll(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return invalid(`payload_url host ${host} does not resolve${code ? ` (${code})` : ''}`);
    }
    if (addresses.length === 0) invalid(`payload_url host ${host} does not resolve`);
    const refused = addresses.find((a) => !this.isAllowedAddress(a.address));
    if (refused) {
      invalid(
        `payload_url host ${host} resolves to a private, loopback or link-local address (${refused.address}); ${ALLOW_HINT}`,
      );
    }
    return url;
  }

  /**
   * Throws an `EBLOCKED` error if `host` is an IP literal this policy refuses. Node does not call
   * `lookup` for IP literals, so the sender checks them with this before connecting.
   */
  checkAddressLiteral(host: string): void {
    const plain = stripBrackets(host);
    if (isIP(plain) !== 0 && !this.isAllowedHost(plain) && !this.isAllowedAddress(plain)) {
      throw blockedError(`address ${plain} is private, loopback or link-local`);
    }
  }

  /**
   * A `lookup` for `http.request` / `net.connect`: resolves like `dns.lookup(host, { all: true })`
   * and fails with code `EBLOCKED` if any address is refused, so the address connected to is the
   * address checked.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.resolveAll(hostname, options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family).then(
      (addresses) => {
        if (addresses.length === 0) {
          callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), '');
          return;
        }
        if (!this.isAllowedHost(hostname)) {
          const refused = addresses.find((a) => !this.isAllowedAddress(a.address));
          if (refused) {
            callback(blockedError(`host ${hostname} resolves to ${refused.address}, a private, loopback or link-local address`), '');
            return;
          }
        }
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0].address, addresses[0].family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}

function invalid(message: string): never {
  throw new DomainError(ErrorCode.ValidationFailed, message);
}

function blockedError(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${message}; ${ALLOW_HINT}`), { code: BLOCKED_CODE });
}

function stripBrackets(host: string): string {
  return host.length > 1 && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function parseCidr(entry: string): Cidr | null {
  const slash = entry.indexOf('/');
  const address = stripBrackets(slash < 0 ? entry : entry.slice(0, slash));
  const family = isIP(address);
  if (family === 0) return null;
  if (slash < 0) return [ipaddr.parse(address), family === 4 ? 32 : 128];
  return ipaddr.isValidCIDR(`${address}${entry.slice(slash)}`) ? ipaddr.parseCIDR(`${address}${entry.slice(slash)}`) : null;
}

function inRange(address: ipaddr.IPv4 | ipaddr.IPv6, net: ipaddr.IPv4 | ipaddr.IPv6, bits: number): boolean {
  return address.kind() === net.kind() && address.match(net, bits);
}

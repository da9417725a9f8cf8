import type { LookupAddress } from 'node:dns';
import type { LookupOptions } from 'node:dns';
import { DomainError, ErrorCode } from '../common/domain-error';
import { UrlPolicy, type ResolveAll } from './url-policy';

/** A resolver answering from a fixed table, like DNS would. */
function fakeDns(table: Record<string, string[]>): ResolveAll {
  return (hostname) => {
    const addresses = table[hostname];
    if (!addresses) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
}

const dns = fakeDns({
  'public.example': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'internal.example': ['10.1.2.3'],
  'mixed.example': ['93.184.215.14', '127.0.0.1'],
  'mapped.example': ['::ffff:192.168.1.10'],
  localhost: ['127.0.0.1', '::1'],
});

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error('expected a DomainError');
}

function lookupWith(
  policy: UrlPolicy,
  hostname: string,
  options: LookupOptions,
): Promise<{ err: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number }> {
  return new Promise((resolve) => policy.lookup(hostname, options, (err, address, family) => resolve({ err, address, family })));
}

describe('UrlPolicy', () => {
  describe('isAllowedAddress', () => {
    const policy = new UrlPolicy([]);

    it.each([
      '127.0.0.1',
      '127.8.9.10',
      '::1',
      '10.0.0.1',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      'fc00::1',
      'fd12:3456::1',
      '169.254.169.254',
      'fe80::1',
      'fe80::1%eth0',
      '0.0.0.0',
      '::',
      '100.64.0.1',
      '100.127.255.254',
      '224.0.0.1',
      'ff02::1',
      '255.255.255.255',
      '240.0.0.1',
      '192.0.2.1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '::ffff:169.254.169.254',
    ])('refuses %s', (ip) => {
      expect(policy.isAllowedAddress(ip)).toBe(false);
    });

    it.each(['8.8.8.8', '93.184.215.14', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
      'allows the public address %s',
      (ip) => {
        expect(policy.isAllowedAddress(ip)).toBe(true);
      },
    );

    it('refuses what is not an IP address', () => {
      expect(policy.isAllowedAddress('localhost')).toBe(false);
      expect(policy.isAllowedAddress('')).toBe(false);
      expect(policy.isAllowedAddress('0x7f000001')).toBe(false);
    });

    it('allows private addresses matching an allow-list IP or CIDR entry', () => {
      const allowing = new UrlPolicy(['127.0.0.1/8', '::1', '10.1.0.0/16', '[fd00::]/8']);
      expect(allowing.isAllowedAddress('127.0.0.1')).toBe(true);
      expect(allowing.isAllowedAddress('127.200.0.1')).toBe(true);
      expect(allowing.isAllowedAddress('::1')).toBe(true);
      expect(allowing.isAllowedAddress('::ffff:127.0.0.1')).toBe(true);
      expect(allowing.isAllowedAddress('10.1.255.1')).toBe(true);
      expect(allowing.isAllowedAddress('fd12::1')).toBe(true);
      expect(allowing.isAllowedAddress('10.2.0.1')).toBe(false);
      expect(allowing.isAllowedAddress('192.168.0.1')).toBe(false);
      expect(allowing.isAllowedAddress('fe80::1')).toBe(false);
    });
  });

  describe('isAllowedHost', () => {
    it('matches allow-listed host names exactly and case-insensitively', () => {
      const policy = new UrlPolicy(['LocalHost', '10.0.0.0/8', 'receiver.internal']);
      expect(policy.isAllowedHost('localhost')).toBe(true);
      expect(policy.isAllowedHost('LOCALHOST')).toBe(true);
      expect(policy.isAllowedHost('receiver.internal')).toBe(true);
      expect(policy.isAllowedHost('evil.receiver.internal')).toBe(false);
      expect(policy.isAllowedHost('localhost.evil.example')).toBe(false);
      expect(policy.isAllowedHost('10.0.0.0/8')).toBe(false);
    });
  });

  describe('checkUrl', () => {
    const policy = new UrlPolicy([], dns);

    it('accepts an https URL whose host resolves to public addresses only', async () => {
      const url = await policy.checkUrl('https://public.example/hook?x=1', true);
      expect(url.href).toBe('https://public.example/hook?x=1');
    });

    it('accepts http when ssl_verification is off', async () => {
      await expect(policy.checkUrl('http://public.example/hook', false)).resolves.toBeInstanceOf(URL);
    });

    it.each([
      ['not a url', 'payload_url is not a valid URL'],
      ['/relative/path', 'payload_url is not a valid URL'],
      ['ftp://public.example/hook', 'payload_url must use http or https'],
      ['file:///etc/passwd', 'payload_url must use http or https'],
      ['https://user:pass@public.example/hook', 'payload_url must not contain credentials'],
      ['https://user@public.example/hook', 'payload_url must not contain credentials'],
      ['http://public.example/hook', 'payload_url must be https when ssl_verification is on'],
      [`https://public.example/${'a'.repeat(2048)}`, 'payload_url is longer than 2048 characters'],
    ])('refuses %s', async (raw, message) => {
      const err = await rejection(policy.checkUrl(raw, true));
      expect(err.code).toBe(ErrorCode.ValidationFailed);
      expect(err.message).toBe(message);
    });

    it('refuses a host that does not resolve', async () => {
      const err = await rejection(policy.checkUrl('https://nowhere.example/hook', true));
      expect(err.code).toBe(ErrorCode.ValidationFailed);
      expect(err.message).toBe('payload_url host nowhere.example does not resolve (ENOTFOUND)');
    });

    it.each([
      ['https://internal.example/hook', '10.1.2.3'],
      ['https://mixed.example/hook', '127.0.0.1'],
      ['https://mapped.example/hook', '::ffff:192.168.1.10'],
      ['https://localhost:8443/hook', '127.0.0.1'],
    ])('refuses %s, which resolves to a private address', async (raw, address) => {
      const err = await rejection(policy.checkUrl(raw, true));
      expect(err.code).toBe(ErrorCode.ValidationFailed);
      expect(err.message).toContain('resolves to a private, loopback or link-local address');
      expect(err.message).toContain(address);
      expect(err.message).toContain('WEBHOOKS_ALLOWED_PRIVATE');
    });

    it.each(['https://127.0.0.1/hook', 'https://[::1]:8443/hook', 'https://169.254.169.254/latest', 'https://0x7f.1/hook', 'https://[::ffff:7f00:1]/'])(
      'refuses the literal private address in %s',
      async (raw) => {
        const err = await rejection(policy.checkUrl(raw, true));
        expect(err.message).toMatch(/^payload_url address .+ is a private, loopback or link-local address; .*WEBHOOKS_ALLOWED_PRIVATE/);
      },
    );

    it('accepts private addresses and hosts the allow-list permits', async () => {
      const allowing = new UrlPolicy(['127.0.0.1/8', '::1', 'internal.example'], dns);
      await expect(allowing.checkUrl('http://127.0.0.1:3000/hook', false)).resolves.toBeInstanceOf(URL);
      await expect(allowing.checkUrl('http://[::1]:3000/hook', false)).resolves.toBeInstanceOf(URL);
      await expect(allowing.checkUrl('https://localhost/hook', true)).resolves.toBeInstanceOf(URL);
      await expect(allowing.checkUrl('https://internal.example/hook', true)).resolves.toBeInstanceOf(URL);
      await expect(rejection(allowing.checkUrl('https://mapped.example/hook', true))).resolves.toBeInstanceOf(DomainError);
    });

    it('skips the address check for an allow-listed host name', async () => {
      const allowing = new UrlPolicy(['Internal.Example'], dns);
      await expect(allowing.checkUrl('https://internal.example/hook', true)).resolves.toBeInstanceOf(URL);
    });

    it('resolves real host names through DNS by default', async () => {
      const err = await rejection(new UrlPolicy([]).checkUrl('https://localhost/hook', true));
      expect(err.message).toMatch(/resolves to a private, loopback or link-local address/);
      const nowhere = await rejection(new UrlPolicy([]).checkUrl('https://nonexistent.invalid/hook', true));
      expect(nowhere.message).toMatch(/^payload_url host nonexistent\.invalid does not resolve/);
    });
  });

  describe('lookup', () => {
    it('answers with every address when asked for all', async () => {
      const { err, address } = await lookupWith(new UrlPolicy([], dns), 'public.example', { all: true });
      expect(err).toBeNull();
      expect(address).toEqual([
        { address: '93.184.215.14', family: 4 },
        { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
      ]);
    });

    it('answers with the first address and its family otherwise', async () => {
      const { err, address, family } = await lookupWith(new UrlPolicy([], dns), 'public.example', {});
      expect(err).toBeNull();
      expect(address).toBe('93.184.215.14');
      expect(family).toBe(4);
    });

    it('fails with EBLOCKED when any resolved address is refused (DNS rebinding)', async () => {
      const { err } = await lookupWith(new UrlPolicy([], dns), 'mixed.example', { all: true });
      expect(err?.code).toBe('EBLOCKED');
      expect(err?.message).toContain('127.0.0.1');
    });

    it('lets allow-listed addresses and host names through', async () => {
      expect((await lookupWith(new UrlPolicy(['127.0.0.0/8', '::1'], dns), 'localhost', { all: true })).err).toBeNull();
      expect((await lookupWith(new UrlPolicy(['internal.example'], dns), 'internal.example', {})).err).toBeNull();
    });

    it('passes DNS failures on unchanged', async () => {
      const { err } = await lookupWith(new UrlPolicy([], dns), 'nowhere.example', { all: true });
      expect(err?.code).toBe('ENOTFOUND');
    });
  });

  describe('checkAddressLiteral', () => {
    const policy = new UrlPolicy(['10.0.0.0/8']);

    it('throws EBLOCKED for a refused IP literal', () => {
      expect(() => policy.checkAddressLiteral('127.0.0.1')).toThrow(expect.objectContaining({ code: 'EBLOCKED' }));
      expect(() => policy.checkAddressLiteral('[::1]')).toThrow(expect.objectContaining({ code: 'EBLOCKED' }));
    });

    it('lets public, allow-listed and non-literal hosts through', () => {
      expect(() => policy.checkAddressLiteral('8.8.8.8')).not.toThrow();
      expect(() => policy.checkAddressLiteral('10.9.8.7')).not.toThrow();
      expect(() => policy.checkAddressLiteral('example.com')).not.toThrow();
    });
  });
});

import { excerpt, MAX_RETRY_AFTER_MS, parseRetryAfter } from './acronis-client.service';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');

  it('reads delta-seconds as milliseconds', () => {
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('0', now)).toBe(0);
  });

  it('rounds fractional seconds up', () => {
    expect(parseRetryAfter('1.5', now)).toBe(1500);
  });

  it('reads an HTTP date as the time left until it', () => {
    expect(parseRetryAfter('Sun, 01 Jun 2025 12:00:30 GMT', now)).toBe(30_000);
  });

  it('reads an HTTP date in the past as zero', () => {
    expect(parseRetryAfter('Sun, 01 Jun 2025 11:00:00 GMT', now)).toBe(0);
  });

  it('caps what it honours at an hour', () => {
    expect(parseRetryAfter('999999', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Tue, 01 Jun 2027 12:00:00 GMT', now)).toBe(MAX_RETRY_AFTER_MS);
  });

  it('takes the first of repeated headers', () => {
    expect(parseRetryAfter(['3', '9'], now)).toBe(3000);
  });

  it.each([undefined, null, '', '  ', '-5', 'soon', '1e3', 42])('ignores %p', (header) => {
    expect(parseRetryAfter(header, now)).toBeNull();
  });
});

describe('excerpt', () => {
  it('keeps a short body whole', () => {
    expect(excerpt('{"error":"not_found"}')).toBe('{"error":"not_found"}');
  });

  it('cuts a long body to at most 1 KB without splitting a character', () => {
    const cut = excerpt('€'.repeat(1000));
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(1024);
    expect(cut).toMatch(/^€+…$/);
  });
});

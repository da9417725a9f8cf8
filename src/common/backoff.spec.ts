import { parseRetryAfter } from './backoff';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  const CAP = 3_600_000;

  it('reads delta-seconds as milliseconds', () => {
    expect(parseRetryAfter('1', CAP, now)).toBe(1000);
    expect(parseRetryAfter(' 120 ', CAP, now)).toBe(120_000);
    expect(parseRetryAfter('0', CAP, now)).toBe(0);
  });

  it('rounds fractional seconds up', () => {
    expect(parseRetryAfter('1.5', CAP, now)).toBe(1500);
  });

  it('reads an HTTP date as the time left until it', () => {
    expect(parseRetryAfter('Sun, 01 Jun 2025 12:00:30 GMT', CAP, now)).toBe(30_000);
  });

  it('reads an HTTP date in the past as zero', () => {
    expect(parseRetryAfter('Sun, 01 Jun 2025 11:00:00 GMT', CAP, now)).toBe(0);
  });

  it('caps what it honours at the cap it is given', () => {
    expect(parseRetryAfter('999999', CAP, now)).toBe(CAP);
    expect(parseRetryAfter('Tue, 01 Jun 2027 12:00:00 GMT', CAP, now)).toBe(CAP);
  });

  it('takes the first of repeated headers', () => {
    expect(parseRetryAfter(['3', '9'], CAP, now)).toBe(3000);
  });

  it.each([undefined, null, '', '  ', '-5', 'soon', '1e3', 42])('ignores %p', (header) => {
    expect(parseRetryAfter(header, CAP, now)).toBeNull();
  });
});

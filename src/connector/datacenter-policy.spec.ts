import { datacenterUrlProblem, DEFAULT_ALLOWED_DC_HOSTS, parseAllowedHosts } from './datacenter-policy';

describe('datacenter policy', () => {
  const defaults = parseAllowedHosts(DEFAULT_ALLOWED_DC_HOSTS);

  it.each(['https://eu8-cloud.acronis.com', 'https://eu2.acronis.cloud/', 'https://acronis.com', 'https://us5-cloud.acronis.com:8443'])('allows %s by default', (url) => {
    expect(datacenterUrlProblem(url, defaults)).toBeNull();
  });

  it.each([
    ['http://eu8-cloud.acronis.com', 'https'],
    ['https://acronis.com.evil.example', 'not an allowed'],
    ['https://evilacronis.com', 'not an allowed'],
    ['https://user:pw@eu8-cloud.acronis.com', 'credentials'],
    ['https://eu8-cloud.acronis.com/?x=1', 'query'],
    ['ftp://eu8-cloud.acronis.com', 'http(s)'],
    ['not a url', 'not a URL'],
  ])('refuses %s', (url, why) => {
    expect(datacenterUrlProblem(url, defaults)).toContain(why);
  });

  it('allows plain HTTP only for an http:// entry', () => {
    const local = parseAllowedHosts('http://127.0.0.1,localhost');
    expect(datacenterUrlProblem('http://127.0.0.1:4000', local)).toBeNull();
    expect(datacenterUrlProblem('http://localhost:4000', local)).toContain('https');
    expect(datacenterUrlProblem('https://localhost:4000', local)).toBeNull();
  });

  it('refuses a malformed entry', () => {
    expect(() => parseAllowedHosts('acronis.com,bad host')).toThrow('not a host pattern');
  });
});

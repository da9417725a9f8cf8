import { excerpt } from './acronis-client.service';

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

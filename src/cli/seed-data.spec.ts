import { loginOf, ROOT_ORGANIZATION_ID, SAMPLE_CUSTOMERS, SAMPLE_ROOT_USERS, uuidV5 } from './seed-data';

describe('seed data', () => {
  it('derives RFC 9562 version 5 UUIDs', () => {
    // The RFC's example: "www.example.com" in the DNS namespace.
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('gives every sample row a distinct id, stable from run to run', () => {
    const ids = [ROOT_ORGANIZATION_ID, ...SAMPLE_CUSTOMERS.flatMap((c) => [c.id, c.user.id]), ...SAMPLE_ROOT_USERS.map((u) => u.id)];
    expect(new Set(ids).size).toBe(16);
    expect(SAMPLE_CUSTOMERS[0].id).toBe(uuidV5(`organization:${SAMPLE_CUSTOMERS[0].name}`, ROOT_ORGANIZATION_ID));
  });

  it('builds logins as first.last', () => {
    expect(loginOf('Emma Wilson')).toBe('emma.wilson');
  });
});

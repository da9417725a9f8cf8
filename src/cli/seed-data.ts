import { createHash } from 'node:crypto';

/** The fixed ids of the Python sample (`constants.py`), so its Postman collection and docs still apply. */
export const ROOT_ORGANIZATION_ID = 'b9c1a52c-280e-45cd-be77-ba927fc42950';
export const ROOT_USER_ID = 'dea06122-1851-48f2-8867-fc62048e5cdd';

export const ROOT_ORGANIZATION_NAME = 'John Doe Inc.';
export const ROOT_USER_NAME = 'John Doe';
export const EMAIL_DOMAIN = 'john-doe.xyz';

/** The sample draws random names (`names.get_full_name()`); a fixed list keeps runs reproducible. */
const CUSTOMER_CONTACTS = ['Emma Wilson', 'Liam Johnson', 'Olivia Brown', 'Noah Davis', 'Ava Martinez'];
const ROOT_COLLEAGUES = ['Sophia Miller', 'James Anderson', 'Isabella Taylor', 'Lucas Thomas', 'Mia Moore'];

export interface SampleUser {
  id: string;
  login: string;
  name: string;
  email: string;
}

export interface SampleCustomer {
  id: string;
  name: string;
  user: SampleUser;
}

/**
 * A UUID version 5 (RFC 9562: SHA-1 of namespace and name). The seed's own rows get ids derived
 * from their names, so a second run finds them instead of adding copies.
 */
export function uuidV5(name: string, namespace: string): string {
  const bytes = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `first.last`, as the sample derives logins from full names. */
export function loginOf(fullName: string): string {
  return fullName.toLowerCase().replace(/\s+/g, '.');
}

export function emailOf(login: string): string {
  return `${login}@${EMAIL_DOMAIN}`;
}

function sampleUser(fullName: string): SampleUser {
  const login = loginOf(fullName);
  return { id: uuidV5(`user:${login}`, ROOT_ORGANIZATION_ID), login, name: fullName, email: emailOf(login) };
}

/** Five CUSTOMER organizations under the root, each with one password-less user. */
export const SAMPLE_CUSTOMERS: readonly SampleCustomer[] = CUSTOMER_CONTACTS.map((fullName) => {
  const name = `${fullName} Inc.`;
  return { id: uuidV5(`organization:${name}`, ROOT_ORGANIZATION_ID), name, user: sampleUser(fullName) };
});

/** Five more password-less users in the root organization. */
export const SAMPLE_ROOT_USERS: readonly SampleUser[] = ROOT_COLLEAGUES.map(sampleUser);

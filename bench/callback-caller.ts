/**
 * The platform's side of `POST /callback` for the benches: a partner whose user the API Callback
 * Gateway authenticates as (production argon2 cost), a customer mapped to an Acronis tenant, and
 * the requests built on them with test/setup/protocol.ts (the envelopes the specs send).
 * Shared by bench/callbacks.bench.ts and bench/webhooks.bench.ts (mixed load).
 */
import { Algorithm, hash } from '@node-rs/argon2';
import type autocannon from 'autocannon';
import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Organization, OrganizationKind } from '../src/organizations/organization.entity';
import { OrganizationMapping } from '../src/tenant-mapping/organization-mapping.entity';
import { User } from '../src/users/user.entity';
import { APP_CODE, cyberAppAuth, envelope, responseType } from '../test/setup/protocol';

/** The production argon2id cost (argon2-cffi's defaults, the service's ARGON2_* defaults). */
export const PRODUCTION_ARGON2 = { algorithm: Algorithm.Argon2id, memoryCost: 65536, timeCost: 3, parallelism: 4 };

/** The gateway's APP_CODE for these requests (the callback ids carry it). */
export { APP_CODE };

export interface CallbackCaller {
  login: string;
  password: string;
  partnerId: string;
  /** The customer mapped to `tenantId`. */
  customerId: string;
  /** The Acronis tenant of the callbacks' context. */
  tenantId: string;
}

/** A partner with its user (production argon2 cost) and a customer mapped to a fresh Acronis tenant; the schema must exist. */
export async function seedCallbackCaller(ds: DataSource): Promise<CallbackCaller> {
  const partner = ds.manager.create(Organization, { id: randomUUID(), name: 'Bench Partner Inc.', kind: OrganizationKind.Partner, parentId: null });
  const customer = ds.manager.create(Organization, { id: randomUUID(), name: 'Bench Customer Inc.', kind: OrganizationKind.Customer, parentId: partner.id });
  await ds.manager.insert(Organization, [partner, customer]);
  const login = 'bench.partner';
  const password = randomBytes(12).toString('base64url');
  await ds.manager.insert(
    User,
    ds.manager.create(User, { id: randomUUID(), login, name: login, email: `${login}@bench.example`, password: await hash(password, PRODUCTION_ARGON2), organizationId: partner.id }),
  );
  const tenantId = randomUUID();
  await ds.manager.insert(OrganizationMapping, { organizationId: customer.id, acronisTenantId: tenantId, acronisDcUrl: null });
  return { login, password, partnerId: partner.id, customerId: customer.id, tenantId };
}

/** Headers of every callback: JSON and the caller's `X-CyberApp-Auth`. */
export function callbackHeaders(caller: CallbackCaller): Record<string, string> {
  return { 'content-type': 'application/json', 'x-cyberapp-auth': cyberAppAuth(caller.login, caller.password) };
}

/** A `user_write` envelope creating a user with a login never used before in the mapped customer. */
export function userWriteBody(caller: CallbackCaller): string {
  const login = `bench.${randomUUID()}`;
  return JSON.stringify(envelope('user_write', { login, name: login, email: `${login}@bench.example` }, { tenantId: caller.tenantId }));
}

export const USER_WRITE_SUCCESS = responseType(`${APP_CODE}.user_write_success.v1.0`);

/** autocannon's request for `user_write`: a fresh request_id and login on every request. */
export function userWriteRequest(caller: CallbackCaller): autocannon.Request {
  return { method: 'POST', path: '/callback', headers: callbackHeaders(caller), setupRequest: (req) => ({ ...req, body: userWriteBody(caller) }) };
}

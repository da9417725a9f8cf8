import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { OrganizationKind } from '../../src/organizations/organization.entity';
import { OrganizationMapping } from '../../src/tenant-mapping/organization-mapping.entity';
import { createOrganization, createTree, createUser, mapOrganization, Tree } from '../factories/organizations';
import { callback, Credentials, errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { CallbackName, cyberAppAuth, ENDPOINT_ID_V1_1, envelope, EnvelopeOptions } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

type Json = Record<string, unknown>;

/**
 * Every refused mirroring request answers a precise 4xx in the protocol's error envelope, and the
 * stored data is exactly as it was (a snapshot before each test is compared after it).
 */
describe('bad input to the mirroring callbacks', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;
  let other: Credentials;
  let stranger: Credentials;
  const partnerTenant = randomUUID();
  const otherTenant = randomUUID();
  /** A mirrored customer of the partner, and one of the other partner. */
  const ownCustomer = randomUUID();
  const othersCustomer = randomUUID();
  /** Mapped to the partner's sub-partner (not a customer). */
  const subPartnerTenant = randomUUID();
  let before: Record<string, unknown[]> | null;

  beforeAll(async () => {
    t = await createTestApp();
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
    other = { login: 'other', password: 'other-password' };
    const lonely = await createOrganization(t.dataSource, { name: 'Not Enabled Partner' });
    await createUser(t.dataSource, { organizationId: lonely.id, login: 'stranger', password: 'stranger-password' });
    stranger = { login: 'stranger', password: 'stranger-password' };

    await send('partner.mirroring.enable', { acronis_tenant_id: partnerTenant, acronis_tenant_name: 'Partner' }).expect(200);
    await send('customer.mirroring.set_state', { partner_tenant_id: partnerTenant, enabled: [{ acronis_tenant_id: ownCustomer, acronis_tenant_name: 'Own' }] }).expect(200);
    await send('partner.mirroring.enable', { acronis_tenant_id: otherTenant, acronis_tenant_name: 'Other' }, { tenantId: otherTenant }, other).expect(200);
    await send('customer.mirroring.set_state', { partner_tenant_id: otherTenant, enabled: [{ acronis_tenant_id: othersCustomer, acronis_tenant_name: 'Theirs' }] }, { tenantId: otherTenant }, other).expect(200);
    await mapOrganization(t.dataSource, tree.subPartner.id, subPartnerTenant);
  });
  beforeEach(async () => {
    before = await snapshot(t.dataSource);
  });
  afterEach(async () => {
    if (before) expect(await snapshot(t.dataSource)).toEqual(before);
  });
  afterAll(() => t.close());

  function send(name: CallbackName, payload?: Json, options: EnvelopeOptions = {}, as: Credentials = partner) {
    return callback(t, as, name, payload, { tenantId: partnerTenant, endpointId: ENDPOINT_ID_V1_1, createdAt: '0001-01-01T00:00:00Z', ...options });
  }
  const setState = (payload: Json, options: EnvelopeOptions = {}, as: Credentials = partner) =>
    send('customer.mirroring.set_state', { partner_tenant_id: partnerTenant, partner_tenant_name: 'Partner', ...payload }, options, as);

  async function expectRefused(res: Promise<{ status: number; body: Json }>, status: number, code: string, message?: RegExp): Promise<void> {
    const { status: got, body } = await res;
    expect({ status: got, code: body.code }).toEqual({ status, code });
    expect(body).toEqual(errorEnvelope(code, body.request_id as string));
    if (message) expect(body.err_message).toMatch(message);
  }

  describe('missing or wrongly typed fields', () => {
    const enable: Array<[string, Json, string]> = [
      ['no payload', {}, 'payload.acronis_tenant_id'],
      ['acronis_tenant_id not a UUID', { acronis_tenant_id: 'tenant', acronis_tenant_name: 'P' }, 'acronis_tenant_id must be a UUID'],
      ['acronis_tenant_id a number', { acronis_tenant_id: 7, acronis_tenant_name: 'P' }, 'acronis_tenant_id'],
      ['acronis_tenant_name missing', { acronis_tenant_id: partnerTenant }, 'payload.acronis_tenant_name'],
      ['acronis_tenant_name a number', { acronis_tenant_id: partnerTenant, acronis_tenant_name: 5 }, 'payload.acronis_tenant_name'],
      ['acronis_tenant_name empty', { acronis_tenant_id: partnerTenant, acronis_tenant_name: '' }, 'payload.acronis_tenant_name'],
      ['acronis_tenant_name too long', { acronis_tenant_id: partnerTenant, acronis_tenant_name: 'x'.repeat(256) }, 'payload.acronis_tenant_name'],
      ['settings an array', { acronis_tenant_id: partnerTenant, acronis_tenant_name: 'P', settings: ['a'] }, 'payload.settings'],
      ['settings a string', { acronis_tenant_id: partnerTenant, acronis_tenant_name: 'P', settings: 'a=b' }, 'payload.settings'],
    ];
    it.each(enable)('partner enable: 400 naming the field when %s', async (_, payload, field) => {
      await expectRefused(send('partner.mirroring.enable', payload), 400, 'VALIDATION_FAILED', new RegExp(field.replaceAll('.', '\\.')));
    });

    const customer = { acronis_tenant_id: randomUUID(), acronis_tenant_name: 'C' };
    const setStates: Array<[string, Json, string]> = [
      ['partner_tenant_id missing', { partner_tenant_id: undefined, enabled: [customer] }, 'payload.partner_tenant_id'],
      ['partner_tenant_id not a UUID', { partner_tenant_id: 'p', enabled: [customer] }, 'partner_tenant_id must be a UUID'],
      ['partner_tenant_name a number', { partner_tenant_name: 1, enabled: [customer] }, 'payload.partner_tenant_name'],
      ['neither enabled nor disabled', {}, 'payload must carry enabled or disabled'],
      ['enabled an object', { enabled: customer }, 'payload.enabled'],
      ['enabled a list of strings', { enabled: [customer.acronis_tenant_id] }, 'payload.enabled'],
      ['an enabled item without acronis_tenant_name', { enabled: [{ acronis_tenant_id: randomUUID() }] }, 'payload.enabled.0.acronis_tenant_name'],
      ['an enabled item with a bad acronis_tenant_id', { enabled: [{ acronis_tenant_id: 'x', acronis_tenant_name: 'C' }] }, 'acronis_tenant_id must be a UUID'],
      ['an enabled item with settings a number', { enabled: [{ ...customer, settings: 3 }] }, 'payload.enabled.0.settings'],
      ['disabled a string', { disabled: ownCustomer }, 'payload.disabled'],
      ['a disabled item without acronis_tenant_id', { disabled: [{}] }, 'payload.disabled.0.acronis_tenant_id'],
    ];
    it.each(setStates)('customer set_state: 400 naming the field when %s', async (_, payload, field) => {
      await expectRefused(setState(payload), 400, 'VALIDATION_FAILED', new RegExp(field.replaceAll('.', '\\.')));
    });

    it("refuses a request type of another mirroring callback", async () => {
      const body = envelope('partner.mirroring.reset', undefined, { tenantId: partnerTenant });
      body.type = 'cti.a.p.acgw.request.v1.1~a.p.partner.mirroring.get_state.v1.0';
      const res = request(t.server).post('/callback').set('X-CyberApp-Auth', cyberAppAuth(partner.login, partner.password)).send(body);
      await expectRefused(res, 400, 'REQUEST_TYPE_MISMATCH', /cti\.a\.p\.acgw\.request\.v1\.1~a\.p\.partner\.mirroring\.reset\.v1\.0/);
    });
  });

  describe('the partner named', () => {
    it("refuses enable when payload.acronis_tenant_id is not the request's context.tenant_id", async () => {
      await expectRefused(send('partner.mirroring.enable', { acronis_tenant_id: randomUUID(), acronis_tenant_name: 'P' }), 400, 'VALIDATION_FAILED', /context\.tenant_id/);
    });

    it("refuses set_state when payload.partner_tenant_id is not the request's context.tenant_id", async () => {
      await expectRefused(setState({ partner_tenant_id: otherTenant, enabled: [] }), 400, 'VALIDATION_FAILED', /context\.tenant_id/);
    });

    it('refuses set_state from an organization not enabled for any partner tenant with 404', async () => {
      const lonelyTenant = randomUUID();
      await expectRefused(setState({ partner_tenant_id: lonelyTenant, enabled: [] }, { tenantId: lonelyTenant }, stranger), 404, 'TENANT_NOT_MAPPED');
    });
  });

  describe('a credential change for a different partner (the same vendor credentials, another Acronis partner tenant)', () => {
    const newTenant = randomUUID();

    it('refuses partner enable for another Acronis tenant with 403', async () => {
      await expectRefused(send('partner.mirroring.enable', { acronis_tenant_id: newTenant, acronis_tenant_name: 'Someone else' }, { tenantId: newTenant }), 403, 'FORBIDDEN', /different Acronis partner tenant/);
    });

    it('refuses set_state for another Acronis tenant with 403', async () => {
      await expectRefused(setState({ partner_tenant_id: newTenant, enabled: [{ acronis_tenant_id: randomUUID(), acronis_tenant_name: 'C' }] }, { tenantId: newTenant }), 403, 'FORBIDDEN');
    });

    it('refuses reset for another Acronis tenant with 403 (it would disable this partner)', async () => {
      await expectRefused(send('partner.mirroring.reset', undefined, { tenantId: newTenant }), 403, 'FORBIDDEN');
    });

    it('refuses enable of an Acronis tenant linked to another organization with 403', async () => {
      await expectRefused(send('partner.mirroring.enable', { acronis_tenant_id: otherTenant, acronis_tenant_name: 'Other' }, { tenantId: otherTenant }, stranger), 403, 'FORBIDDEN', /linked to another organization/);
    });

    it('refuses partner enable of a tenant mapped to a customer (mapped enablement is consistent with it)', async () => {
      await expectRefused(send('partner.mirroring.enable', { acronis_tenant_id: ownCustomer, acronis_tenant_name: 'Own' }, { tenantId: ownCustomer }, stranger), 403, 'FORBIDDEN');
    });
  });

  describe('the customers named', () => {
    it('refuses a disabled list naming an unknown Acronis tenant with 404, disabling none of the others', async () => {
      const unknown = randomUUID();
      await expectRefused(setState({ disabled: [{ acronis_tenant_id: ownCustomer }, { acronis_tenant_id: unknown }] }), 404, 'NOT_FOUND', new RegExp(unknown));
    });

    it("refuses a disabled list naming another partner's customer with 403", async () => {
      await expectRefused(setState({ disabled: [{ acronis_tenant_id: ownCustomer }, { acronis_tenant_id: othersCustomer }] }), 403, 'FORBIDDEN', /another partner's customer/);
    });

    it("refuses an enabled list naming another partner's customer with 403, creating nothing", async () => {
      await expectRefused(setState({ enabled: [{ acronis_tenant_id: randomUUID(), acronis_tenant_name: 'New' }, { acronis_tenant_id: othersCustomer, acronis_tenant_name: 'Theirs' }] }), 403, 'FORBIDDEN');
    });

    it('refuses a tenant mapped to an organization of the caller that is not a customer with 400', async () => {
      await expectRefused(setState({ disabled: [{ acronis_tenant_id: subPartnerTenant }] }), 400, 'MAPPING_INVALID', /not a customer/);
      await expectRefused(setState({ enabled: [{ acronis_tenant_id: subPartnerTenant, acronis_tenant_name: 'Sub' }] }), 400, 'MAPPING_INVALID', /not a customer/);
    });

    it("refuses the partner's own tenant as a customer with 400", async () => {
      await expectRefused(setState({ enabled: [{ acronis_tenant_id: partnerTenant, acronis_tenant_name: 'Me' }] }), 400, 'MAPPING_INVALID', /own Acronis tenant/);
    });

    it('refuses a tenant named twice (also across enabled and disabled) with 400', async () => {
      const twice = randomUUID();
      await expectRefused(setState({ enabled: [{ acronis_tenant_id: twice, acronis_tenant_name: 'A' }, { acronis_tenant_id: twice.toUpperCase(), acronis_tenant_name: 'B' }] }), 400, 'MAPPING_INVALID');
      await expectRefused(setState({ enabled: [{ acronis_tenant_id: ownCustomer, acronis_tenant_name: 'Own' }], disabled: [{ acronis_tenant_id: ownCustomer }] }), 400, 'MAPPING_INVALID');
    });
  });

  describe('a datacenter_url outside the allow-list', () => {
    it.each([
      ['partner.mirroring.enable', { acronis_tenant_id: partnerTenant, acronis_tenant_name: 'Partner', settings: { a: 1 } }],
      ['customer.mirroring.set_state', { partner_tenant_id: partnerTenant, enabled: [{ acronis_tenant_id: randomUUID(), acronis_tenant_name: 'C' }] }],
      ['partner.mirroring.reset', undefined],
    ] as Array<[CallbackName, Json | undefined]>)('refuses %s with 400 naming the problem', async (name, payload) => {
      await expectRefused(send(name, payload, { datacenterUrl: 'https://eu8-cloud.acronis.com.attacker.example' }), 400, 'DATACENTER_NOT_ALLOWED', /datacenter_url host eu8-cloud\.acronis\.com\.attacker\.example is not an allowed/);
    });
  });

  it('never answers 500 whatever type any payload field has, and changes nothing when it refuses', async () => {
    before = null; // checked here, after each refusal
    const withoutAnswers = async () => {
      const { callback_requests: _answers, ...rest } = await snapshot(t.dataSource);
      return rest;
    };
    const values: unknown[] = [null, 0, -1, 1.5, true, '', 'x', [], [1], [null], [{}], {}, { a: 1 }, 'x'.repeat(300)];
    const cases: Array<[CallbackName, Json, string[]]> = [
      ['partner.mirroring.enable', { acronis_tenant_id: partnerTenant, acronis_tenant_name: 'Partner' }, ['acronis_tenant_id', 'acronis_tenant_name']],
      ['customer.mirroring.set_state', { partner_tenant_id: partnerTenant, enabled: [] }, ['partner_tenant_id', 'partner_tenant_name', 'enabled', 'disabled']],
    ];
    let seen = await withoutAnswers();
    for (const [name, valid, fields] of cases) {
      for (const field of fields) {
        for (const value of values) {
          const res = await send(name, { ...valid, [field]: value });
          expect({ name, field, value, status: res.status < 500 }).toEqual({ name, field, value, status: true });
          // Some values are valid (an empty list, any name): those succeed and may change the data.
          if (res.status >= 400) {
            expect(res.body).toEqual(errorEnvelope(res.body.code as string, res.body.request_id as string));
            expect(await withoutAnswers()).toEqual(seen);
          }
          seen = await withoutAnswers();
        }
      }
    }
  });

  it('leaves the links of the set-up intact (sanity check of what the refusals are compared with)', async () => {
    const mapped = (await t.dataSource.manager.find(OrganizationMapping)).map((m) => m.acronisTenantId).sort();
    expect(mapped).toEqual([partnerTenant, otherTenant, ownCustomer, othersCustomer, subPartnerTenant].sort());
    const kinds: Array<{ kind: string }> = await t.dataSource.query(`SELECT o.kind FROM organizations o JOIN organizations_mapping m ON m.organization_id = o.id WHERE m.acronis_tenant_id = '${ownCustomer}'`);
    expect(kinds).toEqual([{ kind: OrganizationKind.Customer }]);
  });
});

import { randomUUID } from 'node:crypto';
import { HookDecision } from '../../src/hooks/hook-decision.entity';
import { HookOperation, HookPhase } from '../../src/hooks/hook-operation';
import { MirroredCustomer } from '../../src/mirroring/mirrored-customer.entity';
import { MirroredPartner } from '../../src/mirroring/mirrored-partner.entity';
import { Organization, OrganizationKind } from '../../src/organizations/organization.entity';
import { OrganizationMapping } from '../../src/tenant-mapping/organization-mapping.entity';
import { User } from '../../src/users/user.entity';
import { approve, HookServer, reject, startHookServer } from '../fakes/hook-server';
import { createHook } from '../factories/hooks';
import { createOrganization, createTree, mapOrganization, Tree } from '../factories/organizations';
import { callback, Credentials, errorEnvelope } from '../setup/callback-client';
import { createTestApp, TestApp } from '../setup/create-test-app';
import { CallbackName, DC_URL, ENDPOINT_ID_V1_1, EnvelopeOptions, responseType } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';

type Json = Record<string, unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ok = (short: string) => responseType(short, 'v1.1');

/** The five mirroring callbacks of the Acronis guide, sent as its examples send them (v2.0 ids, v1.1 types and endpoint, zero created_at). */
describe('mirroring callbacks', () => {
  let t: TestApp;
  let tree: Tree;
  let partner: Credentials;
  const partnerTenant = randomUUID();

  beforeEach(async () => {
    t = await createTestApp();
    tree = await createTree(t.dataSource);
    partner = { login: 'partner', password: tree.password };
  });
  afterEach(() => t.close());

  const mirror = (name: CallbackName, payload?: Json, options: EnvelopeOptions = {}, as: Credentials = partner) =>
    callback(t, as, name, payload, { tenantId: partnerTenant, endpointId: ENDPOINT_ID_V1_1, createdAt: '0001-01-01T00:00:00Z', ...options });
  const enablePartner = (extra: Json = {}) => mirror('partner.mirroring.enable', { acronis_tenant_id: partnerTenant, acronis_tenant_name: 'yury_partner11_864', ...extra });
  const setState = (payload: Json) => mirror('customer.mirroring.set_state', { partner_tenant_id: partnerTenant, partner_tenant_name: 'yury_partner11_864', ...payload });
  const events = async (): Promise<Array<{ type: string; organization_id: string; data: Json }>> => {
    const rows = await t.dataSource.query<Array<{ type: string; organization_id: string; data: string }>>('SELECT type, organization_id, data FROM events ORDER BY created_at, id');
    return rows.map((e) => ({ ...e, data: JSON.parse(e.data) as Json }));
  };
  /** Every table but the stored callback answers (a write that changes nothing still stores its answer). */
  const data = async () => {
    const { callback_requests: _answers, ...rest } = await snapshot(t.dataSource);
    return rest;
  };
  const mappingOf = (organizationId: string) => t.dataSource.manager.findOneBy(OrganizationMapping, { organizationId });
  const mappingOfTenant = (acronisTenantId: string) => t.dataSource.manager.findOneBy(OrganizationMapping, { acronisTenantId });

  describe('partner get_state', () => {
    it('answers DISABLED with the v1.1 response type before the partner is enabled', async () => {
      const res = await mirror('partner.mirroring.get_state').expect(200);
      expect(res.body).toEqual({ type: ok('a.p.partner.mirroring.get_state.ok.v1.0'), request_id: res.body.request_id, response_id: expect.stringMatching(UUID), payload: { state: 'DISABLED' } });
    });

    it('takes the request with an empty payload object too, as the guide example sends it', async () => {
      const res = await mirror('partner.mirroring.get_state', {}).expect(200);
      expect(res.body.payload).toEqual({ state: 'DISABLED' });
    });

    it('answers ENABLED, with the stored settings, once enabled', async () => {
      await enablePartner({ settings: { field1_id: 'value1', region: 2 } }).expect(200);
      const res = await mirror('partner.mirroring.get_state').expect(200);
      expect(res.body.payload).toEqual({ state: 'ENABLED', settings: { field1_id: 'value1', region: 2 } });
    });

    it('answers DISABLED, without the settings, to another Acronis tenant using the same credentials', async () => {
      await enablePartner({ settings: { field1_id: 'value1' } }).expect(200);
      const res = await mirror('partner.mirroring.get_state', undefined, { tenantId: randomUUID() }).expect(200);
      expect(res.body.payload).toEqual({ state: 'DISABLED' });
    });

    it('answers ENABLED for a partner mapped through enablement.write (mapped partner enablement)', async () => {
      await callback(t, partner, 'enablement.write', { acronis_tenant_id: partnerTenant }).expect(200);
      expect((await mirror('partner.mirroring.get_state').expect(200)).body.payload).toEqual({ state: 'ENABLED' });
    });
  });

  describe('partner enable', () => {
    it("links the caller's organization to its Acronis tenant with the data center, and answers as the guide shows", async () => {
      const res = await enablePartner().expect(200);
      expect(res.body).toEqual({
        type: ok('a.p.partner.mirroring.enable.ok.v1.0'),
        request_id: res.body.request_id,
        response_id: expect.stringMatching(UUID),
        payload: { state: 'ENABLED', vendor_tenant_id: tree.partner.id, acronis_tenant_id: partnerTenant },
      });
      expect(await mappingOf(tree.partner.id)).toMatchObject({ acronisTenantId: partnerTenant, acronisDcUrl: DC_URL });
      expect(await t.dataSource.manager.findOneBy(MirroredPartner, { organizationId: tree.partner.id })).toMatchObject({
        state: 'ENABLED',
        acronisTenantId: partnerTenant,
        acronisTenantName: 'yury_partner11_864',
        settings: null,
      });
    });

    it('records partner.mirroring.enabled in the outbox with the change', async () => {
      await enablePartner({ settings: { field1_id: 'value1' } }).expect(200);
      expect(await events()).toEqual([
        {
          type: 'partner.mirroring.enabled',
          organization_id: tree.partner.id,
          data: { vendor_tenant_id: tree.partner.id, acronis_tenant_id: partnerTenant, acronis_tenant_name: 'yury_partner11_864', settings: { field1_id: 'value1' }, datacenter_url: DC_URL },
        },
      ]);
    });

    it('is idempotent: the same enable again changes nothing and records no second event', async () => {
      await enablePartner({ settings: { a: 1 } }).expect(200);
      const before = await snapshot(t.dataSource);
      await enablePartner({ settings: { a: 1 } }).expect(200);
      const after = await snapshot(t.dataSource);
      expect(after.events).toEqual(before.events);
      expect(after.organizations_mapping).toEqual(before.organizations_mapping);
      expect(after.mirrored_partners).toEqual(before.mirrored_partners);
    });

    it('updates the name, the settings and the data center when enabled again', async () => {
      await enablePartner({ settings: { a: 1 } }).expect(200);
      await mirror('partner.mirroring.enable', { acronis_tenant_id: partnerTenant, acronis_tenant_name: 'Renamed', settings: { a: 2 } }, { datacenterUrl: 'https://eu2-cloud.acronis.com' }).expect(200);
      expect(await t.dataSource.manager.findOneBy(MirroredPartner, { organizationId: tree.partner.id })).toMatchObject({ acronisTenantName: 'Renamed', settings: { a: 2 } });
      expect(await mappingOf(tree.partner.id)).toMatchObject({ acronisDcUrl: 'https://eu2-cloud.acronis.com' });
      expect((await events()).map((e) => e.type)).toEqual(['partner.mirroring.enabled', 'partner.mirroring.enabled']);
    });

    it('accepts an upper-case tenant id and stores it lower-case', async () => {
      await mirror('partner.mirroring.enable', { acronis_tenant_id: partnerTenant.toUpperCase(), acronis_tenant_name: 'P' }, { tenantId: partnerTenant.toUpperCase() }).expect(200);
      expect(await mappingOf(tree.partner.id)).toMatchObject({ acronisTenantId: partnerTenant });
    });
  });

  describe('customer set_state and get_state', () => {
    const customerA = randomUUID();
    const customerB = randomUUID();

    beforeEach(async () => {
      await enablePartner().expect(200);
    });

    const customerOf = async (tenant: string): Promise<Organization> => {
      const mapping = await mappingOfTenant(tenant);
      return t.dataSource.manager.findOneByOrFail(Organization, { id: mapping?.organizationId ?? '' });
    };

    it('makes each enabled Acronis customer a CUSTOMER organization under the caller, named after it and mapped with the data center', async () => {
      const res = await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'Zeta Customer' }, { acronis_tenant_id: customerB, acronis_tenant_name: 'Alpha Customer', settings: { field1_id: 'v' } }] }).expect(200);
      expect(res.body).toEqual({ type: ok('a.p.customer.mirroring.set_state.ok.v1.0'), request_id: res.body.request_id, response_id: expect.stringMatching(UUID) });
      const [a, b] = [await customerOf(customerA), await customerOf(customerB)];
      expect(a).toMatchObject({ parentId: tree.partner.id, name: 'Zeta Customer', kind: OrganizationKind.Customer });
      expect(b).toMatchObject({ parentId: tree.partner.id, name: 'Alpha Customer', kind: OrganizationKind.Customer });
      expect(await mappingOf(a.id)).toMatchObject({ acronisTenantId: customerA, acronisDcUrl: DC_URL });

      const state = await mirror('customer.mirroring.get_state').expect(200);
      expect(state.body).toEqual({
        type: ok('a.p.customer.mirroring.get_state.ok.v1.0'),
        request_id: state.body.request_id,
        response_id: expect.stringMatching(UUID),
        payload: [
          { vendor_tenant_id: b.id, acronis_tenant_id: customerB, settings: { field1_id: 'v' } },
          { vendor_tenant_id: a.id, acronis_tenant_id: customerA, settings: {} },
        ],
      });
    });

    it('records customer.mirroring.enabled and customer.mirroring.disabled in the outbox', async () => {
      await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'A' }] }).expect(200);
      const a = await customerOf(customerA);
      await setState({ disabled: [{ acronis_tenant_id: customerA }] }).expect(200);
      const [, enabled, disabled] = await events();
      expect(enabled).toEqual({
        type: 'customer.mirroring.enabled',
        organization_id: tree.partner.id,
        data: {
          partner_tenant_id: partnerTenant,
          partner_tenant_name: 'yury_partner11_864',
          customers: [{ vendor_tenant_id: a.id, acronis_tenant_id: customerA, acronis_tenant_name: 'A', created: true }],
          datacenter_url: DC_URL,
        },
      });
      expect(disabled).toEqual({
        type: 'customer.mirroring.disabled',
        organization_id: tree.partner.id,
        data: { partner_tenant_id: partnerTenant, partner_tenant_name: 'yury_partner11_864', customers: [{ vendor_tenant_id: a.id, acronis_tenant_id: customerA }] },
      });
    });

    it('treats mirrored customers like mapped ones: topology, tenant mapping and the custom user callbacks reach them', async () => {
      await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'Mirrored A' }] }).expect(200);
      const a = await customerOf(customerA);
      expect((await callback(t, partner, 'topology.read', {}).expect(200)).body.payload.items).toContainEqual({ id: a.id, name: 'Mirrored A' });
      expect((await callback(t, partner, 'tenant_mapping.read').expect(200)).body.payload.items).toContainEqual({ vendor_tenant_id: a.id, acronis_tenant_id: customerA });
      await callback(t, partner, 'user_write', { login: 'mirror.user', name: 'Mirror User', email: 'm@example.com' }, { tenantId: customerA }).expect(200);
      const users = await callback(t, partner, 'users_read', {}, { tenantId: customerA }).expect(200);
      expect(users.body.payload.items).toEqual([expect.objectContaining({ name: 'Mirror User', email: 'm@example.com' })]);
    });

    it('disables customers: mapping removed, marked DISABLED, no longer listed, and custom callbacks see an unmapped tenant', async () => {
      await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'A' }, { acronis_tenant_id: customerB, acronis_tenant_name: 'B' }] }).expect(200);
      const a = await customerOf(customerA);
      await setState({ disabled: [{ acronis_tenant_id: customerA }] }).expect(200);
      expect(await mappingOf(a.id)).toBeNull();
      expect(await t.dataSource.manager.findOneBy(MirroredCustomer, { organizationId: a.id })).toMatchObject({ state: 'DISABLED', acronisTenantId: customerA });
      expect((await mirror('customer.mirroring.get_state').expect(200)).body.payload).toEqual([expect.objectContaining({ acronis_tenant_id: customerB })]);
      expect((await callback(t, partner, 'users_read', {}, { tenantId: customerA }).expect(200)).body.payload.items).toEqual([]);
      await callback(t, partner, 'user_write', { login: 'late', name: 'Late', email: 'l@example.com' }, { tenantId: customerA }).expect(404);
    });

    it('reuses the organization (and its users) when a disabled customer is enabled again, and follows a new name', async () => {
      await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'Old Name' }] }).expect(200);
      const a = await customerOf(customerA);
      await callback(t, partner, 'user_write', { login: 'kept.user', name: 'Kept', email: 'k@example.com' }, { tenantId: customerA }).expect(200);
      await setState({ disabled: [{ acronis_tenant_id: customerA }] }).expect(200);
      await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'New Name' }] }).expect(200);
      const again = await customerOf(customerA);
      expect(again.id).toBe(a.id);
      expect(again.name).toBe('New Name');
      expect(await t.dataSource.manager.countBy(Organization, { parentId: tree.partner.id, kind: OrganizationKind.Customer })).toBe(tree.customers.length + 1);
      expect(await t.dataSource.manager.findOneBy(User, { login: 'kept.user' })).toMatchObject({ organizationId: a.id });
      expect((await events()).at(-1)?.data.customers).toEqual([{ vendor_tenant_id: a.id, acronis_tenant_id: customerA, acronis_tenant_name: 'New Name', created: false }]);
    });

    it('is idempotent: enabling an enabled customer or disabling a disabled one changes nothing', async () => {
      await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'A' }], disabled: [] }).expect(200);
      let before = await data();
      await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'A' }] }).expect(200);
      expect(await data()).toEqual(before);
      await setState({ disabled: [{ acronis_tenant_id: customerA }] }).expect(200);
      before = await data();
      await setState({ disabled: [{ acronis_tenant_id: customerA }] }).expect(200);
      expect(await data()).toEqual(before);
    });

    it('enables and disables in one request', async () => {
      await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'A' }] }).expect(200);
      await setState({ enabled: [{ acronis_tenant_id: customerB, acronis_tenant_name: 'B' }], disabled: [{ acronis_tenant_id: customerA }] }).expect(200);
      expect((await mirror('customer.mirroring.get_state').expect(200)).body.payload).toEqual([expect.objectContaining({ acronis_tenant_id: customerB })]);
    });

    it("adopts a tenant already mapped to one of the caller's customers instead of creating an organization", async () => {
      await mapOrganization(t.dataSource, tree.subCustomer.id, customerA, DC_URL);
      await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'Gamma in Acronis' }] }).expect(200);
      expect((await mappingOfTenant(customerA))?.organizationId).toBe(tree.subCustomer.id);
      expect((await t.dataSource.manager.findOneByOrFail(Organization, { id: tree.subCustomer.id })).name).toBe('Gamma Customer');
      expect((await mirror('customer.mirroring.get_state').expect(200)).body.payload).toEqual([{ vendor_tenant_id: tree.subCustomer.id, acronis_tenant_id: customerA, settings: {} }]);
    });

    it('lists nothing to another Acronis tenant using the same credentials', async () => {
      await setState({ enabled: [{ acronis_tenant_id: customerA, acronis_tenant_name: 'A' }] }).expect(200);
      expect((await mirror('customer.mirroring.get_state', undefined, { tenantId: randomUUID() }).expect(200)).body.payload).toEqual([]);
    });

    it('serves a partner enabled through enablement.write (mapped partner, mirrored customers)', async () => {
      const otherTenant = randomUUID();
      const other = { login: 'other', password: 'other-password' };
      await callback(t, other, 'enablement.write', { acronis_tenant_id: otherTenant }).expect(200);
      await mirror('customer.mirroring.set_state', { partner_tenant_id: otherTenant, enabled: [{ acronis_tenant_id: customerB, acronis_tenant_name: 'B' }] }, { tenantId: otherTenant }, other).expect(200);
      expect((await customerOf(customerB)).parentId).toBe(tree.other.id);
    });
  });

  describe('partner reset', () => {
    it('disables the partner and all its customers: mappings removed, records DISABLED, settings kept for get_state', async () => {
      await enablePartner({ settings: { field1_id: 'value1' } }).expect(200);
      const [a, b] = [randomUUID(), randomUUID()];
      await setState({ enabled: [{ acronis_tenant_id: a, acronis_tenant_name: 'A' }, { acronis_tenant_id: b, acronis_tenant_name: 'B' }] }).expect(200);
      await mapOrganization(t.dataSource, tree.otherCustomer.id); // another partner's: untouched

      const res = await mirror('partner.mirroring.reset').expect(200);
      expect(res.body).toEqual({ type: ok('a.p.partner.mirroring.reset.ok.v1.0'), request_id: res.body.request_id, response_id: expect.stringMatching(UUID) });
      expect((await t.dataSource.manager.find(OrganizationMapping)).map((m) => m.organizationId)).toEqual([tree.otherCustomer.id]);
      expect((await t.dataSource.manager.find(MirroredCustomer)).map((c) => c.state)).toEqual(['DISABLED', 'DISABLED']);
      expect(await t.dataSource.manager.findOneBy(MirroredPartner, { organizationId: tree.partner.id })).toMatchObject({ state: 'DISABLED' });
      expect((await mirror('partner.mirroring.get_state').expect(200)).body.payload).toEqual({ state: 'DISABLED', settings: { field1_id: 'value1' } });
      expect((await mirror('customer.mirroring.get_state').expect(200)).body.payload).toEqual([]);

      const reset = (await events()).at(-1);
      expect(reset).toMatchObject({ type: 'partner.mirroring.reset', organization_id: tree.partner.id, data: { vendor_tenant_id: tree.partner.id, acronis_tenant_id: partnerTenant } });
      expect((reset?.data.unmapped as unknown[]).length).toBe(3);
      expect((reset?.data.disabled_customers as unknown[]).length).toBe(2);
    });

    it('answers 200 and changes nothing for a partner that is not enabled', async () => {
      const before = await data();
      await mirror('partner.mirroring.reset').expect(200);
      expect(await data()).toEqual(before);
    });

    it('lets the partner enable again afterwards, reusing its customers when they are enabled again', async () => {
      await enablePartner().expect(200);
      const a = randomUUID();
      await setState({ enabled: [{ acronis_tenant_id: a, acronis_tenant_name: 'A' }] }).expect(200);
      const first = (await mappingOfTenant(a))?.organizationId;
      await mirror('partner.mirroring.reset').expect(200);
      await enablePartner().expect(200);
      await setState({ enabled: [{ acronis_tenant_id: a, acronis_tenant_name: 'A' }] }).expect(200);
      expect((await mappingOfTenant(a))?.organizationId).toBe(first);
    });
  });

  describe('approval hooks', () => {
    let hook: HookServer;
    const secret = 'whsec_' + Buffer.alloc(32, 9).toString('base64');

    beforeEach(async () => {
      await t.close();
      t = await createTestApp({ WEBHOOKS_ALLOWED_PRIVATE: '127.0.0.1/8', WEBHOOKS_WORKER_ENABLED: 'false' });
      tree = await createTree(t.dataSource);
      hook = await startHookServer({ secret });
      await createHook(t.dataSource, {
        organizationId: tree.partner.id,
        url: hook.url,
        operations: [HookOperation.PartnerMirroringEnable, HookOperation.PartnerMirroringReset, HookOperation.CustomerMirroringSetState],
        phase: HookPhase.Pre,
        secret,
      });
    });
    afterEach(() => hook.close());

    const asked = () => hook.pres.map((p) => ({ event: p.headers['x-cs-event'], body: p.json }));

    it('asks the pre-hooks of partner.mirroring.enable, customer.mirroring.set_state and partner.mirroring.reset with their input', async () => {
      const customer = randomUUID();
      await enablePartner({ settings: { s: 1 } }).expect(200);
      await setState({ enabled: [{ acronis_tenant_id: customer, acronis_tenant_name: 'C' }] }).expect(200);
      await mirror('partner.mirroring.reset').expect(200);
      const base = { organization_id: tree.partner.id, auth_id: 'partner' };
      expect(asked()).toEqual([
        { event: 'pre.partner.mirroring.enable', body: { operation: 'partner.mirroring.enable', ...base, input: { acronis_tenant_id: partnerTenant, acronis_tenant_name: 'yury_partner11_864', settings: { s: 1 } } } },
        {
          event: 'pre.customer.mirroring.set_state',
          body: {
            operation: 'customer.mirroring.set_state',
            ...base,
            input: { partner_tenant_id: partnerTenant, partner_tenant_name: 'yury_partner11_864', enabled: [{ acronis_tenant_id: customer, acronis_tenant_name: 'C' }] },
          },
        },
        { event: 'pre.partner.mirroring.reset', body: { operation: 'partner.mirroring.reset', ...base, input: {} } },
      ]);
      expect((await t.dataSource.getRepository(HookDecision).find()).map((d) => d.outcome)).toEqual(['approved', 'approved', 'approved']);
    });

    it.each([
      ['partner.mirroring.enable', false],
      ['customer.mirroring.set_state', true],
      ['partner.mirroring.reset', true],
    ] as const)('refuses %s with 403 when a pre-hook vetoes, changing nothing', async (name, enabledFirst) => {
      if (enabledFirst) await enablePartner().expect(200);
      hook.answer(reject('not today'));
      const { hook_decisions: _decisions, ...before } = await snapshot(t.dataSource);
      const res = await (name === 'partner.mirroring.enable'
        ? enablePartner()
        : name === 'customer.mirroring.set_state'
          ? setState({ enabled: [{ acronis_tenant_id: randomUUID(), acronis_tenant_name: 'C' }] })
          : mirror(name)
      ).expect(403);
      expect(res.body).toEqual({ ...errorEnvelope('FORBIDDEN', res.body.request_id), err_message: 'Rejected by approval hook: not today', message: 'Rejected by approval hook: not today' });
      const { hook_decisions: _after, ...after } = await snapshot(t.dataSource);
      expect(after).toEqual(before);
      hook.answer(approve());
    });

    it('does not ask the hooks of a request refused for its content', async () => {
      await mirror('partner.mirroring.enable', { acronis_tenant_id: randomUUID(), acronis_tenant_name: 'P' }).expect(400);
      await setState({ enabled: [{ acronis_tenant_id: randomUUID(), acronis_tenant_name: 'C' }] }).expect(404); // not enabled yet
      expect(hook.pres).toEqual([]);
    });
  });

  describe('with the mirroring methods switched off (ENABLEMENT_METHODS)', () => {
    it.each([
      ['mapped_partner,mapped_customers', ['partner.mirroring.get_state', 'partner.mirroring.enable', 'partner.mirroring.reset', 'customer.mirroring.get_state', 'customer.mirroring.set_state']],
      ['mapped_partner,mirrored_customers', ['partner.mirroring.get_state', 'partner.mirroring.enable', 'partner.mirroring.reset']],
      ['mirrored_partner,mapped_customers', ['customer.mirroring.get_state', 'customer.mirroring.set_state']],
    ] as const)('ENABLEMENT_METHODS=%s answers %j with 404 ENABLEMENT_METHOD_OFF and changes nothing', async (methods, refused) => {
      await t.close();
      t = await createTestApp({ ENABLEMENT_METHODS: methods });
      tree = await createTree(t.dataSource);
      await createOrganization(t.dataSource, { name: 'unused' });
      const before = await snapshot(t.dataSource);
      const payloads: Partial<Record<CallbackName, Json>> = {
        'partner.mirroring.enable': { acronis_tenant_id: partnerTenant, acronis_tenant_name: 'P' },
        'customer.mirroring.set_state': { partner_tenant_id: partnerTenant, enabled: [] },
      };
      for (const name of refused) {
        const res = await mirror(name, payloads[name]).expect(404);
        expect(res.body).toMatchObject(errorEnvelope('ENABLEMENT_METHOD_OFF', res.body.request_id));
      }
      expect(await snapshot(t.dataSource)).toEqual(before);
    });
  });
});

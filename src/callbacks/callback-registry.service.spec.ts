import { Injectable, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { appConfig } from '../config/app.config';
import { EXAMPLE_IDS } from './callback-example';
import { CallbackHandler, CallbackHandlerContract, CallbackResult } from './callback-handler.decorator';
import { CallbackRegistry } from './callback-registry.service';

@CallbackHandler({ id: '{APP_CODE}.thing_read.v1.0', responseType: '{APP_CODE}.thing_read_success.v1.0', example: { summary: 'Things', response: { items: [] } } })
@Injectable()
class ThingReadHandler implements CallbackHandlerContract {
  handle(): Promise<CallbackResult> {
    return Promise.resolve({ items: [] });
  }
}

@CallbackHandler({ id: 'a.p.thing.mirroring.get_state.v1.0', callbackVersion: 'v2.0', requestType: 'a.p.thing.mirroring.get_state.v1.0', requestVersion: 'v1.1', responseType: 'a.p.thing.mirroring.get_state.ok.v1.0', responseVersion: 'v1.1', example: { summary: 'State', tenantId: '00000000-0000-0000-0000-000000000001', payload: { a: 1 } } })
@Injectable()
class MirroringThingHandler implements CallbackHandlerContract {
  handle(): Promise<CallbackResult> {
    return Promise.resolve(undefined);
  }
}

@CallbackHandler({ id: '{APP_CODE}.thing_read.v1.0', responseType: 'x', example: { summary: 'x' } })
@Injectable()
class DuplicateThingReadHandler implements CallbackHandlerContract {
  handle(): Promise<CallbackResult> {
    return Promise.resolve(undefined);
  }
}

async function boot(...handlers: Array<new () => CallbackHandlerContract>) {
  @Module({ imports: [DiscoveryModule], providers: [CallbackRegistry, ...handlers, { provide: appConfig.KEY, useValue: { appCode: 'acme.app' } }] })
  class TestModule {}
  const moduleRef = await Test.createTestingModule({ imports: [TestModule] }).compile();
  await moduleRef.init();
  return moduleRef.get(CallbackRegistry);
}

describe('CallbackRegistry', () => {
  it('finds decorated handlers and substitutes {APP_CODE} in IDs and types', async () => {
    const registry = await boot(ThingReadHandler);
    const entry = registry.get('cti.a.p.acgw.callback.v1.0~acme.app.thing_read.v1.0');
    expect(entry).toMatchObject({
      requestType: 'cti.a.p.acgw.request.v1.0~a.p.empty.v1.0',
      responseType: 'cti.a.p.acgw.response.v1.0~acme.app.thing_read_success.v1.0',
      write: false,
    });
    expect(entry?.handler).toBeInstanceOf(ThingReadHandler);
  });

  it('registers a handler under the versions it declares', async () => {
    const registry = await boot(MirroringThingHandler);
    expect(registry.get('cti.a.p.acgw.callback.v2.0~a.p.thing.mirroring.get_state.v1.0')).toMatchObject({
      callbackId: 'cti.a.p.acgw.callback.v2.0~a.p.thing.mirroring.get_state.v1.0',
      requestType: 'cti.a.p.acgw.request.v1.1~a.p.thing.mirroring.get_state.v1.0',
      requestName: 'a.p.thing.mirroring.get_state.v1.0',
      responseType: 'cti.a.p.acgw.response.v1.1~a.p.thing.mirroring.get_state.ok.v1.0',
    });
  });

  it.each([['v1.0'], ['v1.1'], ['v1.12'], ['v2.0']])('routes a callback ID under the %s prefix to the same handler', async (version) => {
    const registry = await boot(ThingReadHandler, MirroringThingHandler);
    expect(registry.get(`cti.a.p.acgw.callback.${version}~acme.app.thing_read.v1.0`)?.handler).toBeInstanceOf(ThingReadHandler);
    expect(registry.get(`cti.a.p.acgw.callback.${version}~a.p.thing.mirroring.get_state.v1.0`)?.handler).toBeInstanceOf(MirroringThingHandler);
  });

  it.each([['cti.a.p.acgw.callback.v2.1~acme.app.thing_read.v1.0'], ['cti.a.p.acgw.callback.v3.0~acme.app.thing_read.v1.0'], ['cti.a.p.acgw.callback.v1~acme.app.thing_read.v1.0'], ['acme.app.thing_read.v1.0'], ['cti.a.p.acgw.request.v1.0~acme.app.thing_read.v1.0']])(
    'does not route %s',
    async (id) => {
      const registry = await boot(ThingReadHandler);
      expect(registry.get(id)).toBeUndefined();
    },
  );

  it('fails the boot on a duplicate callback ID', async () => {
    await expect(boot(ThingReadHandler, DuplicateThingReadHandler)).rejects.toThrow(/Duplicate callback handler for cti\.a\.p\.acgw\.callback\.v1\.0~acme\.app\.thing_read\.v1\.0/);
  });

  it("builds each handler's example into full envelopes under the IDs and types it is served with", async () => {
    const registry = await boot(ThingReadHandler, MirroringThingHandler);
    const [read, mirroring] = registry.examples();
    expect(read).toEqual({
      callbackId: 'cti.a.p.acgw.callback.v1.0~acme.app.thing_read.v1.0',
      summary: 'Things',
      request: {
        type: 'cti.a.p.acgw.request.v1.0~a.p.empty.v1.0',
        request_id: EXAMPLE_IDS.requestId,
        created_at: '2024-11-24T10:00:00Z',
        context: {
          callback_id: 'cti.a.p.acgw.callback.v1.0~acme.app.thing_read.v1.0',
          endpoint_id: 'cti.a.p.acgw.endpoint.v1.0~acme.app.endpoint.v1.0',
          tenant_id: EXAMPLE_IDS.acronisPartnerTenant,
          datacenter_url: 'https://eu8-cloud.acronis.com',
        },
      },
      response: { type: 'cti.a.p.acgw.response.v1.0~acme.app.thing_read_success.v1.0', request_id: EXAMPLE_IDS.requestId, response_id: EXAMPLE_IDS.responseId, payload: { items: [] } },
    });
    expect(mirroring.request).toMatchObject({
      type: 'cti.a.p.acgw.request.v1.1~a.p.thing.mirroring.get_state.v1.0',
      context: { callback_id: 'cti.a.p.acgw.callback.v2.0~a.p.thing.mirroring.get_state.v1.0', tenant_id: '00000000-0000-0000-0000-000000000001' },
      payload: { a: 1 },
    });
    expect(mirroring.response).toEqual({ type: 'cti.a.p.acgw.response.v1.1~a.p.thing.mirroring.get_state.ok.v1.0', request_id: EXAMPLE_IDS.requestId, response_id: EXAMPLE_IDS.responseId });
  });

  it('answers undefined for an unknown ID', async () => {
    const registry = await boot(ThingReadHandler);
    expect(registry.get('cti.a.p.acgw.callback.v1.0~nope')).toBeUndefined();
  });
});

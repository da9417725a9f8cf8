import { Injectable, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { appConfig } from '../config/app.config';
import { CallbackHandler, CallbackHandlerContract, CallbackResult } from './callback-handler.decorator';
import { CallbackRegistry } from './callback-registry.service';

@CallbackHandler({ id: '{APP_CODE}.thing_read.v1.0', responseType: '{APP_CODE}.thing_read_success.v1.0' })
@Injectable()
class ThingReadHandler implements CallbackHandlerContract {
  handle(): Promise<CallbackResult> {
    return Promise.resolve({ items: [] });
  }
}

@CallbackHandler({ id: '{APP_CODE}.thing_read.v1.0', responseType: 'x' })
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

  it('fails the boot on a duplicate callback ID', async () => {
    await expect(boot(ThingReadHandler, DuplicateThingReadHandler)).rejects.toThrow(/Duplicate callback handler for cti\.a\.p\.acgw\.callback\.v1\.0~acme\.app\.thing_read\.v1\.0/);
  });

  it('answers undefined for an unknown ID', async () => {
    const registry = await boot(ThingReadHandler);
    expect(registry.get('cti.a.p.acgw.callback.v1.0~nope')).toBeUndefined();
  });
});

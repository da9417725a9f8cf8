import { callbackName, endpointIdPattern, requestTypeName } from './callback-cti';

describe('callback CTI prefixes', () => {
  it.each([
    ['cti.a.p.acgw.callback.v1.0~a.p.enablement.read.v1.0', 'a.p.enablement.read.v1.0'],
    ['cti.a.p.acgw.callback.v1.1~a.p.enablement.read.v1.0', 'a.p.enablement.read.v1.0'],
    ['cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.get_state.v1.0', 'a.p.partner.mirroring.get_state.v1.0'],
    ['cti.a.p.acgw.callback.v2.1~a.p.partner.mirroring.get_state.v1.0', null],
    ['cti.a.p.acgw.callback.v0.9~x', null],
    ['cti.a.p.acgw.callback.v1.0~', null],
  ])('reads callback id %s as %s', (id, name) => {
    expect(callbackName(id)).toBe(name);
  });

  it.each([
    ['cti.a.p.acgw.request.v1.0~a.p.empty.v1.0', 'a.p.empty.v1.0'],
    ['cti.a.p.acgw.request.v1.1~a.p.partner.mirroring.get_state.v1.0', 'a.p.partner.mirroring.get_state.v1.0'],
    ['cti.a.p.acgw.request.v1.25~a.p.empty.v1.0', 'a.p.empty.v1.0'],
    ['cti.a.p.acgw.request.v2.0~a.p.empty.v1.0', null],
    ['cti.a.p.acgw.response.v1.0~a.p.empty.v1.0', null],
  ])('reads request type %s as %s', (type, name) => {
    expect(requestTypeName(type)).toBe(name);
  });

  it.each([
    ['cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0', true],
    ['cti.a.p.acgw.endpoint.v1.1~vendor.app.mirroring.endpoint.v1.1', true],
    ['cti.a.p.acgw.endpoint.v2.0~vendor.app.endpoint.v1.0', false],
    ['cti.a.p.acgw.endpoint.v1.0~vendorXapp.endpoint.v1.0', false], // the dot in APP_CODE is literal
    ['cti.a.p.acgw.endpoint.v1.0~vendor.application.endpoint.v1.0', false],
    ['cti.a.p.acgw.endpoint.v1.0~other.app.endpoint.v1.0', false],
  ])('takes %s as an endpoint of vendor.app: %s', (id, ours) => {
    expect(endpointIdPattern('vendor.app').test(id)).toBe(ours);
  });
});

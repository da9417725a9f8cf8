/**
 * The CTI prefixes of the callback protocol and the versions accepted. The platform sends v1.0
 * ids for the mapped-enablement and custom callbacks and, in the mirroring guide, v2.0 callback
 * ids with v1.1 request types and endpoint ids; any v1.x of an endpoint id or request type, and
 * a v1.x or v2.0 callback id, is read as the same thing, so a minor bump on the platform's side
 * does not break routing.
 */

const CALLBACK_ID = /^cti\.a\.p\.acgw\.callback\.v(?:1\.\d{1,4}|2\.0)~(.+)$/;
const REQUEST_TYPE = /^cti\.a\.p\.acgw\.request\.v1\.\d{1,4}~(.+)$/;

export const callbackIdPrefix = (version: CallbackIdVersion): string => `cti.a.p.acgw.callback.${version}~`;
export const requestTypePrefix = (version: TypeVersion): string => `cti.a.p.acgw.request.${version}~`;
export const responseTypePrefix = (version: TypeVersion): string => `cti.a.p.acgw.response.${version}~`;

/** The callback id versions a handler may be registered under. */
export type CallbackIdVersion = 'v1.0' | 'v2.0';
/** The request and response type versions a handler may declare. */
export type TypeVersion = 'v1.0' | 'v1.1';

/** The part of a callback id after its accepted prefix (`a.p.enablement.read.v1.0`), or null. */
export function callbackName(callbackId: string): string | null {
  return CALLBACK_ID.exec(callbackId)?.[1] ?? null;
}

/** The part of a request type after its accepted prefix (`a.p.empty.v1.0`), or null. */
export function requestTypeName(type: string): string | null {
  return REQUEST_TYPE.exec(type)?.[1] ?? null;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Matches this CyberApp's endpoint ids: `cti.a.p.acgw.endpoint.v1.<n>~<APP_CODE>.<name>…`. */
export function endpointIdPattern(appCode: string): RegExp {
  return new RegExp(`^cti\\.a\\.p\\.acgw\\.endpoint\\.v1\\.\\d{1,4}~${escapeRegExp(appCode)}\\.`);
}

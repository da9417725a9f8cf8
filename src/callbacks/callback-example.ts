import type { CallbackEnvelope } from './callback-envelope';

/**
 * The ids every callback example uses, so that the examples tell one story: a vendor partner
 * organization linked to an Acronis partner tenant, its customer linked to an Acronis customer
 * tenant, a user of that customer. The OpenAPI spec builds this world and runs every example in it.
 */
export const EXAMPLE_IDS = {
  /** The vendor's partner organization: the organization of the `X-CyberApp-Auth` user. */
  partnerOrganization: '0b9f2c4e-6d1a-4f3b-9e57-2a8c1d7e5f60',
  partnerName: 'Partner Inc.',
  /** A customer organization below it. */
  customerOrganization: '5e3d7a91-2c4b-4e8f-a016-9b7c3d2e1f48',
  customerName: 'Alpha Customer',
  /** A user of the customer organization. */
  user: '8c2e4f6a-1b3d-4c5e-9f70-6a8b2c4d1e3f',
  /** The Acronis partner tenant the partner organization is linked to. */
  acronisPartnerTenant: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
  /** The Acronis customer tenant the customer organization is mapped to. */
  acronisCustomerTenant: 'f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f',
  /** An action handler of the customer organization, and an action it was given. */
  actionHandler: '2d4f6b8a-3c5e-4a7b-9d1f-8e6c4a2b0d9f',
  action: '7a9c1e3b-5d7f-4b2a-8c4e-6f1a3b5d7c9e',
  requestId: '3fa85f64-5717-4562-b3fc-2c963f66afa6',
  responseId: '9b1d3f5a-7c2e-4f6b-a8d0-1e3c5a7b9d2f',
} as const;

const CREATED_AT = '2024-11-24T10:00:00Z';
const DATACENTER_URL = 'https://eu8-cloud.acronis.com';

/**
 * What a handler declares next to itself (`@CallbackHandler({ example })`): the request's payload
 * and the answer's. The envelopes around them (types, ids, context) are built from the registration,
 * so each example carries the exact ID and types the handler is served under.
 */
export interface CallbackExample {
  /** Shown with the example. */
  summary: string;
  /** `context.tenant_id` of the request (default: the Acronis partner tenant). */
  tenantId?: string;
  /** The request's payload; omitted for callbacks that take none. */
  payload?: Record<string, unknown>;
  /** The answer's payload; omitted for no-content response types. */
  response?: Record<string, unknown> | unknown[];
}

/** The success answer of a callback (HTTP 200): `payload` omitted, not null, for no-content types. */
export interface CallbackResponse {
  type: string;
  request_id: string;
  response_id: string;
  payload?: Record<string, unknown> | unknown[];
}

/** What the registry knows of a callback that its example needs. */
export interface ExampleSource {
  callbackId: string;
  requestType: string;
  responseType: string;
  example: CallbackExample;
}

/** The request the platform would send for the example, and the gateway's answer to it. */
export function exampleExchange(callback: ExampleSource, appCode: string): { request: CallbackEnvelope; response: CallbackResponse } {
  const { example } = callback;
  const request: CallbackEnvelope = {
    type: callback.requestType,
    request_id: EXAMPLE_IDS.requestId,
    created_at: CREATED_AT,
    context: {
      callback_id: callback.callbackId,
      endpoint_id: `cti.a.p.acgw.endpoint.v1.0~${appCode}.endpoint.v1.0`,
      tenant_id: example.tenantId ?? EXAMPLE_IDS.acronisPartnerTenant,
      datacenter_url: DATACENTER_URL,
    },
    ...(example.payload !== undefined ? { payload: example.payload } : {}),
  };
  const response: CallbackResponse = {
    type: callback.responseType,
    request_id: EXAMPLE_IDS.requestId,
    response_id: EXAMPLE_IDS.responseId,
    ...(example.response !== undefined ? { payload: example.response } : {}),
  };
  return { request, response };
}

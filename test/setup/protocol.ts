import { randomUUID } from 'node:crypto';

export const APP_CODE = 'vendor.app';
export const ENDPOINT_ID = `cti.a.p.acgw.endpoint.v1.0~${APP_CODE}.endpoint.v1.0`;
/** An endpoint id as the mirroring guide's examples give them. */
export const ENDPOINT_ID_V1_1 = `cti.a.p.acgw.endpoint.v1.1~${APP_CODE}.mirroring.endpoint.v1.1`;
export const DC_URL = 'https://eu8-cloud.acronis.com';

/** The mirroring callbacks' versions (Acronis guide, mirrored enablement): v2.0 ids, v1.1 request and response types. */
const MIRRORING = { callbackVersion: 'v2.0', requestVersion: 'v1.1' } as const;

/** Callback IDs by their short name, with the request type each must carry and the versions the guide gives. */
const CALLBACKS: Record<string, { id: string; request: string; callbackVersion?: string; requestVersion?: string }> = {
  'enablement.read': { id: 'a.p.enablement.read.v1.0', request: 'a.p.empty.v1.0' },
  'enablement.write': { id: 'a.p.enablement.write.v1.0', request: 'a.p.enablement.write.v1.0' },
  'enablement.reset': { id: 'a.p.enablement.reset.v1.0', request: 'a.p.empty.v1.0' },
  'topology.read': { id: 'a.p.topology.read.v1.0', request: 'a.p.topology.read.v1.0' },
  'tenant_mapping.read': { id: 'a.p.tenant_mapping.read.v1.0', request: 'a.p.empty.v1.0' },
  'tenant_mapping.write': { id: 'a.p.tenant_mapping.write.v1.0', request: 'a.p.tenant_mapping.write.v1.0' },
  users_read: { id: `${APP_CODE}.users_read.v1.0`, request: `${APP_CODE}.users_read.v1.0` },
  user_write: { id: `${APP_CODE}.user_write.v1.0`, request: `${APP_CODE}.user_write.v1.0` },
  user_update: { id: `${APP_CODE}.user_update.v1.0`, request: `${APP_CODE}.user_update.v1.0` },
  user_delete: { id: `${APP_CODE}.user_delete.v1.0`, request: `${APP_CODE}.user_delete.v1.0` },
  reset_password: { id: `${APP_CODE}.reset_password.v1.0`, request: `${APP_CODE}.reset_password.v1.0` },
  'partner.mirroring.get_state': { id: 'a.p.partner.mirroring.get_state.v1.0', request: 'a.p.partner.mirroring.get_state.v1.0', ...MIRRORING },
  'partner.mirroring.enable': { id: 'a.p.partner.mirroring.enable.v1.0', request: 'a.p.partner.mirroring.enable.v1.0', ...MIRRORING },
  'partner.mirroring.reset': { id: 'a.p.partner.mirroring.reset.v1.0', request: 'a.p.partner.mirroring.reset.v1.0', ...MIRRORING },
  'customer.mirroring.get_state': { id: 'a.p.customer.mirroring.get_state.v1.0', request: 'a.p.customer.mirroring.get_state.v1.0', ...MIRRORING },
  'customer.mirroring.set_state': { id: 'a.p.customer.mirroring.set_state.v1.0', request: 'a.p.customer.mirroring.set_state.v1.0', ...MIRRORING },
  action_submit: { id: `${APP_CODE}.action_submit.v1.0`, request: `${APP_CODE}.action_submit.v1.0` },
};
export type CallbackName = keyof typeof CALLBACKS;

export interface EnvelopeOptions {
  tenantId?: string;
  requestId?: string;
  datacenterUrl?: string;
  endpointId?: string;
  createdAt?: string;
  /** Overrides the version of the callback id prefix (`v1.0`, `v2.0`, …). */
  callbackVersion?: string;
  /** Overrides the version of the request type prefix. */
  requestVersion?: string;
}

/** A request envelope as the API Callback Gateway sends it (docs/protocols.md), with the versions the guide gives each callback. */
export function envelope(name: CallbackName, payload?: Record<string, unknown>, options: EnvelopeOptions = {}): Record<string, unknown> {
  const cb = CALLBACKS[name];
  return {
    type: `cti.a.p.acgw.request.${options.requestVersion ?? cb.requestVersion ?? 'v1.0'}~${cb.request}`,
    request_id: options.requestId ?? randomUUID(),
    created_at: options.createdAt ?? new Date().toISOString(),
    context: {
      callback_id: `cti.a.p.acgw.callback.${options.callbackVersion ?? cb.callbackVersion ?? 'v1.0'}~${cb.id}`,
      endpoint_id: options.endpointId ?? ENDPOINT_ID,
      tenant_id: options.tenantId ?? '00000000-0000-0000-0000-000000000000',
      datacenter_url: options.datacenterUrl ?? DC_URL,
    },
    ...(payload !== undefined ? { payload } : {}),
  };
}

export function responseType(short: string, version = 'v1.0'): string {
  return `cti.a.p.acgw.response.${version}~${short}`;
}

/** `X-CyberApp-Auth` as the platform sends it: base64 of `<login>:{"password":"…"}`. */
export function cyberAppAuth(login: string, password: string): string {
  return Buffer.from(`${login}:${JSON.stringify({ password })}`).toString('base64');
}

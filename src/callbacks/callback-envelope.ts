import { DomainError, ErrorCode } from '../common/domain-error';
import { isDateTime } from '../common/rfc3339';

/** UUIDs are checked by shape only: the platform's examples use the nil UUID. */
export const UUID_SHAPE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const MAX_STRING = 255;

/** The API Callback Gateway's request envelope (docs/protocols.md), as validated. */
export interface CallbackEnvelope {
  type: string;
  request_id: string;
  created_at: string;
  context: {
    callback_id: string;
    endpoint_id: string;
    tenant_id: string;
    datacenter_url?: string;
  };
  payload?: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Checks the envelope on every callback. Written out by hand rather than with class-validator:
 * it runs on the hot path, and the rules are few and fixed by the protocol. Unknown fields are
 * ignored; each problem is named by its path.
 */
export function parseEnvelope(body: unknown): CallbackEnvelope {
  if (!isObject(body)) throw new DomainError(ErrorCode.MalformedRequest, 'Invalid request: body must be a JSON object.');
  const problems: string[] = [];
  const string = (value: unknown, path: string, optional = false): void => {
    if (value === undefined && optional) return;
    if (typeof value !== 'string' || value.length === 0) problems.push(`${path} must be a non-empty string`);
    else if (value.length > MAX_STRING) problems.push(`${path} must be at most ${MAX_STRING} characters`);
  };
  const uuid = (value: unknown, path: string): void => {
    if (typeof value !== 'string' || !UUID_SHAPE.test(value)) problems.push(`${path} must be a UUID`);
  };

  string(body.type, 'type');
  uuid(body.request_id, 'request_id');
  if (typeof body.created_at !== 'string' || !isDateTime(body.created_at)) {
    problems.push('created_at must be an RFC 3339 date-time');
  }
  const context = body.context;
  if (!isObject(context)) {
    problems.push('context must be an object');
  } else {
    string(context.callback_id, 'context.callback_id');
    string(context.endpoint_id, 'context.endpoint_id');
    uuid(context.tenant_id, 'context.tenant_id');
    string(context.datacenter_url, 'context.datacenter_url', true);
  }
  if (body.payload !== undefined && !isObject(body.payload)) problems.push('payload must be an object');
  if (problems.length > 0) throw new DomainError(ErrorCode.MalformedRequest, `Invalid request: ${problems.join('; ')}.`);
  return body as unknown as CallbackEnvelope;
}

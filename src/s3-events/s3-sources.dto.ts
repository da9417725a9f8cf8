import { DomainError, ErrorCode } from '../common/domain-error';
import { hasControlCharacters } from '../common/printable';
import { refuseUnknownFields } from '../common/validate-dto';
import type { S3Action, S3Endpoint } from './s3-action.types';

/** Where the path token goes in `public_url`: replaced by the token of the request being answered. */
export const TOKEN_PLACEHOLDER = '{token}';
export const MAX_ACTIONS = 10;
export const MAX_BUCKETS = 100;
const MAX_ARGS = 64;
const MAX_URL = 2048;
const BUCKET_NAME = /^[A-Za-z0-9._-]{1,255}$/;
/** The fields each object of the body may carry: anything else is a 400 (a typo must not pass as "not given"). */
const SOURCE_FIELDS = ['organization_id', 'name', 'public_url', 'allowed_buckets', 'actions', 'enabled'] as const;
const ENDPOINT_FIELDS = ['endpoint', 'region', 'access_key_id', 'secret_access_key', 'force_path_style'] as const;
const COMMAND_FIELDS = ['type', 'command', 'timeout_ms'] as const;
const REPLICATE_FIELDS = ['type', ...ENDPOINT_FIELDS, 'bucket', 'source', 'timeout_ms'] as const;

/** A source as created: every field checked, defaults filled in. */
export interface SourceInput {
  organization_id?: string;
  name: string;
  public_url: string | null;
  allowed_buckets: string[];
  actions: S3Action[];
  enabled: boolean;
}

/** A PATCH: any field of create but `organization_id`, at least one. */
export type SourceChanges = Partial<Omit<SourceInput, 'organization_id'>>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const invalid = (message: string): never => {
  throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: ${message}.`);
};

function text(value: unknown, at: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) invalid(`${at} must be a string of 1 to ${max} characters`);
  if (hasControlCharacters(value as string)) invalid(`${at} must not contain control characters`);
  return value as string;
}

function bool(value: unknown, at: string): boolean {
  if (typeof value !== 'boolean') invalid(`${at} must be a boolean`);
  return value as boolean;
}

function timeout(value: unknown, at: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 100 || value > 3_600_000) invalid(`${at} must be an integer from 100 to 3600000`);
  return value as number;
}

function httpUrl(value: unknown, at: string): string {
  const raw = text(value, at, MAX_URL);
  let url: URL | undefined;
  try {
    url = new URL(raw.split(TOKEN_PLACEHOLDER).join('x'));
  } catch {
    invalid(`${at} must be an absolute http or https URL`);
  }
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:') invalid(`${at} must be an absolute http or https URL`);
  return raw;
}

function buckets(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_BUCKETS) invalid(`allowed_buckets must be an array of 1 to ${MAX_BUCKETS} bucket names`);
  const names = (value as unknown[]).map((b, i) => {
    if (typeof b !== 'string' || !BUCKET_NAME.test(b)) invalid(`allowed_buckets[${i}] must be a bucket name (letters, digits, . _ -)`);
    return b as string;
  });
  return [...new Set(names)];
}

function endpoint(value: Record<string, unknown>, at: string, known: readonly string[]): S3Endpoint {
  refuseUnknownFields(value, known, at);
  return {
    endpoint: httpUrl(value.endpoint, `${at}.endpoint`),
    region: text(value.region, `${at}.region`, 64),
    access_key_id: text(value.access_key_id, `${at}.access_key_id`, 1024),
    secret_access_key: text(value.secret_access_key, `${at}.secret_access_key`, 1024),
    force_path_style: value.force_path_style === undefined ? false : bool(value.force_path_style, `${at}.force_path_style`),
  };
}

function action(value: unknown, i: number, allowedCommands: string[]): S3Action {
  const at = `actions[${i}]`;
  if (!isObject(value)) return invalid(`${at} must be an object`);
  if (value.type === 'command') {
    refuseUnknownFields(value, COMMAND_FIELDS, at);
    const command = value.command;
    if (!Array.isArray(command) || command.length === 0 || command.length > MAX_ARGS) invalid(`${at}.command must be an array of 1 to ${MAX_ARGS} strings (argv, no shell)`);
    const argv = (command as unknown[]).map((arg, n) => text(arg, `${at}.command[${n}]`, 4096));
    if (!allowedCommands.includes(argv[0])) {
      invalid(
        allowedCommands.length === 0
          ? `${at}: command actions are turned off (S3_EVENTS_ALLOWED_COMMANDS is empty)`
          : `${at}.command[0] must be one of the executables listed in S3_EVENTS_ALLOWED_COMMANDS`,
      );
    }
    return { type: 'command', command: argv, ...optionalTimeout(value.timeout_ms, at) };
  }
  if (value.type === 'replicate') {
    if (value.source !== undefined && !isObject(value.source)) invalid(`${at}.source must be an object`);
    return {
      type: 'replicate',
      ...endpoint(value, at, REPLICATE_FIELDS),
      bucket: text(value.bucket, `${at}.bucket`, 255),
      ...(isObject(value.source) ? { source: endpoint(value.source, `${at}.source`, ENDPOINT_FIELDS) } : {}),
      ...optionalTimeout(value.timeout_ms, at),
    };
  }
  return invalid(`${at}.type must be "command" or "replicate"`);
}

function optionalTimeout(value: unknown, at: string): { timeout_ms?: number } {
  const ms = timeout(value, `${at}.timeout_ms`);
  return ms === undefined ? {} : { timeout_ms: ms };
}

function actions(value: unknown, allowedCommands: string[]): S3Action[] {
  if (!Array.isArray(value) || value.length > MAX_ACTIONS) invalid(`actions must be an array of at most ${MAX_ACTIONS} actions`);
  return (value as unknown[]).map((a, i) => action(a, i, allowedCommands));
}

function publicUrl(value: unknown): string | null {
  return value === null ? null : httpUrl(value, 'public_url');
}

/** Parses the body of `POST /api/s3-events/sources`; an unknown field, at any depth, is a 400 naming it. */
export function parseCreate(body: unknown, allowedCommands: string[]): SourceInput {
  if (!isObject(body)) return invalid('body must be a JSON object');
  refuseUnknownFields(body, SOURCE_FIELDS);
  if (body.organization_id !== undefined) text(body.organization_id, 'organization_id', 36);
  return {
    ...(body.organization_id !== undefined ? { organization_id: body.organization_id as string } : {}),
    name: text(body.name, 'name', 255),
    public_url: body.public_url === undefined ? null : publicUrl(body.public_url),
    allowed_buckets: buckets(body.allowed_buckets),
    actions: body.actions === undefined ? [] : actions(body.actions, allowedCommands),
    enabled: body.enabled === undefined ? true : bool(body.enabled, 'enabled'),
  };
}

/** Parses a PATCH: `public_url: null` clears it; `actions` replaces the whole list (secrets included). */
export function parseUpdate(body: unknown, allowedCommands: string[]): SourceChanges {
  if (!isObject(body)) return invalid('body must be a JSON object');
  if (body.organization_id !== undefined) invalid('organization_id cannot change');
  refuseUnknownFields(body, SOURCE_FIELDS);
  const changes: SourceChanges = {};
  if (body.name !== undefined) changes.name = text(body.name, 'name', 255);
  if (body.public_url !== undefined) changes.public_url = publicUrl(body.public_url);
  if (body.allowed_buckets !== undefined) changes.allowed_buckets = buckets(body.allowed_buckets);
  if (body.actions !== undefined) changes.actions = actions(body.actions, allowedCommands);
  if (body.enabled !== undefined) changes.enabled = bool(body.enabled, 'enabled');
  if (Object.keys(changes).length === 0) invalid('give at least one of name, public_url, allowed_buckets, actions, enabled');
  return changes;
}

/** The endpoints of replicate actions, for the address policy. */
export function endpointsOf(list: S3Action[]): Array<{ url: string; at: string }> {
  return list.flatMap((a, i) =>
    a.type === 'replicate'
      ? [{ url: a.endpoint, at: `actions[${i}].endpoint` }, ...(a.source ? [{ url: a.source.endpoint, at: `actions[${i}].source.endpoint` }] : [])]
      : [],
  );
}

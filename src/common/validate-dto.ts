import { plainToInstance } from 'class-transformer';
import { validate, ValidationError } from 'class-validator';
import { DomainError, ErrorCode } from './domain-error';

/** class-validator's constraint name for a property no decorator declares (forbidNonWhitelisted). */
const WHITELIST_CONSTRAINT = 'whitelistValidation';
const PLAIN_NAME = /^[A-Za-z0-9_$-]{1,64}$/;

/** A client-chosen property name as shown in a message: quoted and cut when it is not a plain name. */
export function fieldName(name: string): string {
  return PLAIN_NAME.test(name) ? name : JSON.stringify(name.slice(0, 64));
}

const join = (path: string, name: string): string => (path ? `${path}.${name}` : name);

/**
 * One message per field: `name must be a string`, `filters.1.value: …`, `unknown field scpoe`. A
 * message given twice (several checks of one field sharing a custom message) is said once.
 */
export function validationMessages(errors: ValidationError[], path: string): string[] {
  return [...new Set(messagesOf(errors, path))];
}

function messagesOf(errors: ValidationError[], path: string): string[] {
  return errors.flatMap((e) => {
    if (e.constraints?.[WHITELIST_CONSTRAINT] !== undefined) return [`unknown field ${join(path, fieldName(e.property))}`];
    const at = join(path, e.property);
    const own = Object.values(e.constraints ?? {}).map((m) => (m.startsWith(e.property) ? `${path ? path + '.' : ''}${m}` : `${at}: ${m}`));
    return [...own, ...messagesOf(e.children ?? [], at)];
  });
}

async function run<T extends object>(schema: new () => T, value: unknown, path: string, code: ErrorCode, unknownFields: 'strip' | 'refuse'): Promise<T> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DomainError(code, `${path || 'body'} must be a JSON object.`);
  }
  const instance = plainToInstance(schema, value);
  // forbidUnknownValues would reject decorator-less DTOs such as users_read's `{}`; the object check above covers it.
  const errors = await validate(instance, { whitelist: true, forbidNonWhitelisted: unknownFields === 'refuse', forbidUnknownValues: false });
  if (errors.length > 0) {
    throw new DomainError(code, `Invalid request: ${validationMessages(errors, path).join('; ')}.`);
  }
  return instance;
}

/**
 * Validates a plain value against a class-validator DTO. Unknown properties are stripped (the
 * platform may add fields to callback payloads); a missing or wrongly typed one throws a 400
 * naming the field. Management API bodies use {@link validateApiBody} instead.
 */
export function validateDto<T extends object>(
  schema: new () => T,
  value: unknown,
  path = '',
  code: ErrorCode = ErrorCode.ValidationFailed,
): Promise<T> {
  return run(schema, value, path, code, 'strip');
}

/**
 * Validates the body of a management API route (`/api/…`): as {@link validateDto}, but a property
 * the DTO does not declare, at any depth that is validated as a nested DTO, is a 400 naming it
 * (`unknown field scpoe`). A typo must not change the meaning of a request (`scpoe` creating a
 * Local subscription, a misspelt `secret` getting a generated one). Free-form objects (`payload`,
 * `parameters`, `attributes`) are not nested DTOs and keep any keys.
 */
export function validateApiBody<T extends object>(schema: new () => T, value: unknown): Promise<T> {
  return run(schema, value, '', ErrorCode.ValidationFailed, 'refuse');
}

/** For pipes that check a body by hand (`NoBody`): a 400 naming the first keys of `value` that are not in `known`. */
export function refuseUnknownFields(value: Record<string, unknown>, known: readonly string[], path = ''): void {
  const unknown = Object.keys(value).filter((key) => !known.includes(key));
  if (unknown.length === 0) return;
  const names = unknown.slice(0, 5).map((key) => `unknown field ${join(path, fieldName(key))}`);
  throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: ${names.join('; ')}.`);
}

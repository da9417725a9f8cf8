import { plainToInstance } from 'class-transformer';
import { validate, ValidationError } from 'class-validator';
import { DomainError, ErrorCode } from './domain-error';

function flatten(errors: ValidationError[], path: string): string[] {
  return errors.flatMap((e) => {
    const at = path ? `${path}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((m) => (m.startsWith(e.property) ? `${path ? path + '.' : ''}${m}` : `${at}: ${m}`));
    return [...own, ...flatten(e.children ?? [], at)];
  });
}

/**
 * Validates a plain value against a class-validator DTO. Unknown properties are stripped (the
 * platform may add fields); a missing or wrongly typed one throws a 400 naming the field.
 */
export async function validateDto<T extends object>(
  schema: new () => T,
  value: unknown,
  path = '',
  code: ErrorCode = ErrorCode.ValidationFailed,
): Promise<T> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DomainError(code, `${path || 'body'} must be a JSON object.`);
  }
  const instance = plainToInstance(schema, value);
  // forbidUnknownValues would reject decorator-less DTOs such as users_read's `{}`; the object check above covers it.
  const errors = await validate(instance, { whitelist: true, forbidUnknownValues: false });
  if (errors.length > 0) {
    throw new DomainError(code, `Invalid request: ${flatten(errors, path).join('; ')}.`);
  }
  return instance;
}

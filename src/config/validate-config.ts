import { plainToInstance, Transform } from 'class-transformer';

import { validateSync, ValidationError } from 'class-validator';

type ClassType<T> = new () => T;

function describe(errors: ValidationError[]): string {
  return errors
    .map((e) => `${e.property}=${JSON.stringify(e.value)}: ${Object.values(e.constraints ?? {}).join('; ')}`)
    .join('\n  ');
}

/**
 * Validates one config slice's environment variables against a class-validator schema and
 * returns the typed, converted values. A bad value throws an error naming the variable, so the
 * boot stops before anything listens.
 */
export function validateConfig<T extends object>(
  env: Record<string, string | undefined>,
  schema: ClassType<T>,
): T {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const instance = plainToInstance(schema, present, { enableImplicitConversion: true });
  const errors = validateSync(instance, { skipMissingProperties: false });
  if (errors.length > 0) {
    throw new Error(`Invalid configuration:\n  ${describe(errors)}`);
  }
  return instance;
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** Parses `true/false/1/0/yes/no/on/off`; anything else stays a string so `@IsBoolean` names it. */
export function EnvBoolean(): PropertyDecorator {
  return Transform(({ obj, key }: { obj: Record<string, unknown>; key: string }) => {
    const raw = obj[key];
    if (typeof raw === 'boolean') return raw;
    const s = String(raw).trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
    return raw;
  });
}

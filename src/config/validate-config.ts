import { plainToInstance, Transform } from 'class-transformer';

import { validateSync, ValidationError } from 'class-validator';

type ClassType<T> = new () => T;

/** A variable with a bad value: the boot stops with this message (it names every such variable). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Names each bad variable with the value as it was set (implicit conversion turns `PORT=abc` into
 * NaN, which JSON shows as `null`), hiding the secret ones and any password inside a URL.
 */
function describe(errors: ValidationError[], env: Record<string, string | undefined>): string {
  return errors
    .map((e) => `${e.property}=${shown(e.property, env[e.property] ?? e.value)}: ${Object.values(e.constraints ?? {}).join('; ')}`)
    .join('\n  ');
}

function shown(name: string, value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value) ?? String(value);
  if (/SECRET|PASSWORD|TOKEN/i.test(name)) return '[redacted]';
  return JSON.stringify(value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^/?#@]*@/i, '$1:[redacted]@'));
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
    throw new ConfigError(`Invalid configuration:\n  ${describe(errors, present)}`);
  }
  return instance;
}

/** A comma-separated list, its items trimmed, empty ones left out. */
export const commaList = (value: string): string[] => value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);

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

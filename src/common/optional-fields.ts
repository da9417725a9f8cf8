import { ValidateIf } from 'class-validator';

/**
 * Like `@IsOptional()`, except that `null` is validated (and refused by the field's type checks)
 * instead of being skipped: `{"secret": null}` must not pass as "no secret given", and an empty
 * `?kind=` is refused rather than read as "any".
 */
export const Optional = (): PropertyDecorator => ValidateIf((_object: unknown, value: unknown) => value !== undefined);

/** Optional and nullable: `null` clears the field. */
export const Nullable = (): PropertyDecorator => ValidateIf((_object: unknown, value: unknown) => value !== undefined && value !== null);

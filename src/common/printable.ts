import { ValidationArguments, ValidatorConstraint, ValidatorConstraintInterface } from 'class-validator';

/**
 * Ids, keys, names and URLs end up in SQL parameters, headers and logs: PostgreSQL refuses NUL in
 * text, and none of them needs a control character.
 */
export function hasControlCharacters(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** `@Validate(Printable)`: a string without control characters (other types are left to the field's own checks). */
@ValidatorConstraint({ name: 'printable' })
export class Printable implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value !== 'string' || !hasControlCharacters(value);
  }

  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must not contain control characters`;
  }
}

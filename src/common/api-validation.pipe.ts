import { ArgumentMetadata, Injectable, PipeTransform, ValidationPipe, ValidationPipeOptions } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { DomainError, ErrorCode } from './domain-error';
import { validationMessages } from './validate-dto';

/** What the inner pipes throw; {@link ApiValidationPipe} names the errors' location and rethrows. */
class Invalid {
  constructor(readonly errors: ValidationError[]) {}
}

const options = (unknownFields: 'refuse' | 'strip'): ValidationPipeOptions => ({
  transform: true,
  whitelist: true,
  forbidNonWhitelisted: unknownFields === 'refuse',
  // forbidUnknownValues would refuse decorator-less DTOs; the object check in transform covers it.
  forbidUnknownValues: false,
  exceptionFactory: (errors) => new Invalid(errors),
});

/**
 * The global pipe: a `@Body()` or `@Query()` typed with a class is validated by Nest's
 * `ValidationPipe` (class-transformer + class-validator), and its errors become one
 * VALIDATION_FAILED naming every field (`Invalid request: name must be a string; unknown field scpoe.`).
 * A body field no DTO declares, at any depth validated as a nested DTO, is refused: a typo must not
 * change the meaning of a request (`scpoe` creating a Local subscription). Unknown query
 * parameters are ignored, as before. Parameters typed `unknown` or `Record<…>` (the callback
 * envelope, checked per callback ID) pass through untouched.
 */
@Injectable()
export class ApiValidationPipe implements PipeTransform {
  private readonly body = new ValidationPipe(options('refuse'));
  private readonly query = new ValidationPipe(options('strip'));

  async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if ((metadata.type !== 'body' && metadata.type !== 'query') || metadata.data !== undefined) return value;
    const path = metadata.type === 'body' ? '' : 'query';
    // No body is an empty one (routes whose fields are all optional); null, an array or a scalar is not an object.
    if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      if (isDto(metadata)) throw new DomainError(ErrorCode.ValidationFailed, `${path || 'body'} must be a JSON object.`);
    }
    try {
      // ValidationPipe deletes `constructor` and `prototype` keys in place; the body stays as sent
      // for those who read it raw (a test delivery sends its payload as is).
      if (metadata.type === 'body') return await this.body.transform(isDto(metadata) ? structuredClone(value) : value, metadata);
      return await this.query.transform(value, metadata);
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
      throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: ${validationMessages(error.errors, path).join('; ')}.`);
    }
  }
}

const UNVALIDATED: unknown[] = [String, Boolean, Number, Array, Object, Buffer, Date];
const isDto = ({ metatype }: ArgumentMetadata): boolean => typeof metatype === 'function' && !UNVALIDATED.includes(metatype);

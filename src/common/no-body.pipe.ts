import { Injectable, PipeTransform } from '@nestjs/common';
import { DomainError, ErrorCode } from './domain-error';
import { refuseUnknownFields } from './validate-dto';

/**
 * `@Body(NoBody) _body: unknown` on a management route that takes no body: a field sent anyway is
 * unknown (400 naming it), as on the routes that take one, so that `{"token": …}` to rotate-token
 * does not pass for a request to set it. No body, or `{}`, is fine.
 */
@Injectable()
export class NoBody implements PipeTransform<unknown, undefined> {
  transform(value: unknown): undefined {
    if (value === undefined) return undefined;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: this route takes no body.');
    }
    refuseUnknownFields(value as Record<string, unknown>, []);
    return undefined;
  }
}

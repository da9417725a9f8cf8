import { HttpException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { isUniqueViolation } from '../database/unique-violation';
import { DomainError, ErrorCode, ERROR_STATUS } from './domain-error';

/**
 * The callback protocol's error body (docs/protocols.md): the docs' `err_message`, the sample's
 * `message`, and our stable `code`. `request_id` is echoed when the request carried one.
 */
export interface ErrorEnvelope {
  request_id?: string;
  response_id: string;
  err_message: string;
  message: string;
  code: string;
}

export interface RenderedError {
  status: number;
  body: ErrorEnvelope;
  headers: Record<string, string>;
}

/** Fastify's own error codes for things a client causes, mapped to ours. */
const FASTIFY_CODES: Record<string, { code: ErrorCode; message: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: ErrorCode.MalformedRequest, message: 'Body is not valid JSON.' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: ErrorCode.MalformedRequest, message: 'Body must not be empty.' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: ErrorCode.PayloadTooLarge, message: 'Request body is too large.' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: ErrorCode.UnsupportedMediaType, message: 'Content-Type must be application/json.' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: ErrorCode.MalformedRequest, message: 'Content-Length does not match the body.' },
  FST_ERR_CTP_INVALID_TYPE: { code: ErrorCode.UnsupportedMediaType, message: 'Content-Type must be application/json.' },
  // The router's (through `frameworkErrors`): the path is not echoed, it may hold a token.
  FST_ERR_BAD_URL: { code: ErrorCode.MalformedRequest, message: 'The URL path is not validly percent-encoded.' },
  FST_ERR_MAX_PARAM_LENGTH: { code: ErrorCode.UriTooLong, message: 'A URL path segment is too long.' },
  FST_ERR_ASYNC_CONSTRAINT: { code: ErrorCode.MalformedRequest, message: 'The request matches no route constraint.' },
};

const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
  400: ErrorCode.MalformedRequest,
  401: ErrorCode.Unauthenticated,
  403: ErrorCode.Forbidden,
  404: ErrorCode.NotFound,
  405: ErrorCode.MethodNotAllowed,
  409: ErrorCode.Conflict,
  413: ErrorCode.PayloadTooLarge,
  415: ErrorCode.UnsupportedMediaType,
  429: ErrorCode.RateLimited,
  503: ErrorCode.Unavailable,
};

function requestIdOf(body: unknown): string | undefined {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const id = (body as Record<string, unknown>).request_id;
    if (typeof id === 'string' && id.length <= 64) return id;
  }
  return undefined;
}

/** Turns anything thrown while serving a request into a status and the protocol's envelope. */
export function renderError(error: unknown, requestBody: unknown): RenderedError {
  let code = ErrorCode.Internal;
  let message = 'Internal error.';
  let headers: Record<string, string> = {};
  if (error instanceof DomainError) {
    ({ code, message, headers } = error);
  } else if (isUniqueViolation(error)) {
    code = ErrorCode.Conflict;
    message = 'The change conflicts with existing data.';
  } else if (error instanceof HttpException) {
    code = HTTP_STATUS_CODES[error.getStatus()] ?? (error.getStatus() < 500 ? ErrorCode.MalformedRequest : ErrorCode.Internal);
    message = error.getStatus() === 404 ? 'Not found.' : error.message;
  } else if (error && typeof error === 'object') {
    const e = error as { code?: unknown; statusCode?: unknown; message?: unknown };
    const known = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
    if (known) {
      ({ code, message } = known);
    } else if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      code = HTTP_STATUS_CODES[e.statusCode] ?? ErrorCode.MalformedRequest;
      message = typeof e.message === 'string' ? e.message : 'Bad request.';
    }
  }
  const requestId = requestIdOf(requestBody);
  return {
    status: ERROR_STATUS[code],
    headers,
    body: {
      ...(requestId !== undefined ? { request_id: requestId } : {}),
      response_id: randomUUID(),
      err_message: message,
      message,
      code,
    },
  };
}

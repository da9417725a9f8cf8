/**
 * Stable string codes for every error a request can cause. One global filter maps them to
 * HTTP statuses and the callback protocol's error envelope, so the status of a code is decided
 * in one place (see ERROR_STATUS).
 */
export enum ErrorCode {
  MalformedRequest = 'MALFORMED_REQUEST',
  ValidationFailed = 'VALIDATION_FAILED',
  CallbackNotFound = 'CALLBACK_NOT_FOUND',
  RequestTypeMismatch = 'REQUEST_TYPE_MISMATCH',
  MappingInvalid = 'MAPPING_INVALID',
  /** `context.datacenter_url` is not an allowed Acronis data center (ACRONIS_DC_ALLOWED_HOSTS). */
  DatacenterNotAllowed = 'DATACENTER_NOT_ALLOWED',
  Unauthenticated = 'UNAUTHENTICATED',
  Forbidden = 'FORBIDDEN',
  TenantNotMapped = 'TENANT_NOT_MAPPED',
  NotFound = 'NOT_FOUND',
  /** The callback belongs to an enablement method that ENABLEMENT_METHODS switches off. */
  EnablementMethodOff = 'ENABLEMENT_METHOD_OFF',
  Conflict = 'CONFLICT',
  IdempotencyMismatch = 'IDEMPOTENCY_KEY_REUSED',
  PayloadTooLarge = 'PAYLOAD_TOO_LARGE',
  UriTooLong = 'URI_TOO_LONG',
  UnsupportedMediaType = 'UNSUPPORTED_MEDIA_TYPE',
  MethodNotAllowed = 'METHOD_NOT_ALLOWED',
  RateLimited = 'RATE_LIMITED',
  Unavailable = 'SERVICE_UNAVAILABLE',
  Internal = 'INTERNAL_ERROR',
}

export const ERROR_STATUS: Record<ErrorCode, number> = {
  [ErrorCode.MalformedRequest]: 400,
  [ErrorCode.ValidationFailed]: 400,
  [ErrorCode.CallbackNotFound]: 400,
  [ErrorCode.RequestTypeMismatch]: 400,
  [ErrorCode.MappingInvalid]: 400,
  [ErrorCode.DatacenterNotAllowed]: 400,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.TenantNotMapped]: 404,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.EnablementMethodOff]: 404,
  [ErrorCode.MethodNotAllowed]: 405,
  [ErrorCode.UriTooLong]: 414,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.IdempotencyMismatch]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.UnsupportedMediaType]: 415,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Internal]: 500,
};

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra response headers, e.g. Retry-After on RATE_LIMITED. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** The one message every authentication failure answers with, whatever failed. */
export const AUTH_FAILED_MESSAGE = 'Failed to authenticate user.';
export const unauthenticated = (): DomainError => new DomainError(ErrorCode.Unauthenticated, AUTH_FAILED_MESSAGE);

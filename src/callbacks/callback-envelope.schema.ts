import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';
import { ErrorCode, ERROR_STATUS } from '../common/domain-error';
import { callbackIdPrefix, requestTypePrefix, responseTypePrefix } from './callback-cti';

/*
 * Documentation-only classes: the OpenAPI shapes of the callback protocol (docs/protocols.md). Nothing
 * validates against them; the envelope is checked by `parseEnvelope` and payloads by each
 * handler's DTO.
 */

const UUID_EXAMPLE = '3fa85f64-5717-4562-b3fc-2c963f66afa6';

export class CallbackContextSchema {
  @ApiProperty({
    description: 'Which callback to run: `cti.a.p.acgw.callback.v1.x~…` or `…v2.0~…` (the mirroring callbacks), routed on the part after `~`.',
    example: `${callbackIdPrefix('v1.0')}a.p.enablement.read.v1.0`,
    maxLength: 255,
  })
  callback_id!: string;

  @ApiProperty({
    description: "The CyberApp's endpoint (`cti.a.p.acgw.endpoint.v1.x~<APP_CODE>.…`); with CALLBACK_JWT=required it must be one of this APP_CODE's and a role of the token.",
    example: 'cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0',
    maxLength: 255,
  })
  endpoint_id!: string;

  @ApiProperty({ description: 'The Acronis tenant the call is about (UUID shape, any version).', format: 'uuid', example: '00000000-0000-0000-0000-000000000000' })
  tenant_id!: string;

  @ApiPropertyOptional({ description: 'The data center that sent the call.', example: 'https://eu8-cloud.acronis.com', maxLength: 255 })
  datacenter_url?: string;
}

/** The request envelope the API Callback Gateway POSTs. */
export class CallbackRequestSchema {
  @ApiProperty({ description: "The request type; must be the callback's, under any `cti.a.p.acgw.request.v1.x~` prefix.", example: `${requestTypePrefix('v1.0')}a.p.empty.v1.0`, maxLength: 255 })
  type!: string;

  @ApiProperty({ description: 'Echoed in the answer; with the callback ID, the idempotency key of write callbacks (24 h).', format: 'uuid', example: UUID_EXAMPLE })
  request_id!: string;

  @ApiProperty({ description: 'RFC 3339 date-time (any year, e.g. the zero time `0001-01-01T00:00:00Z`; the shorter ISO 8601 forms are accepted too).', example: '2023-04-10T15:33:01+00:00' })
  created_at!: string;

  @ApiProperty({ type: () => CallbackContextSchema })
  context!: CallbackContextSchema;

  @ApiPropertyOptional({
    description: "The callback's input; absent for `a.p.empty.v1.0` requests. Unknown fields are ignored.",
    type: 'object',
    additionalProperties: true,
    example: { vendor_tenant_id: UUID_EXAMPLE, acronis_tenant_id: '00000000-0000-0000-0000-000000000000' },
  })
  payload?: Record<string, unknown>;
}

/** The success answer: HTTP 200. */
export class CallbackResponseSchema {
  @ApiProperty({ description: "The callback's response type (v1.0, or v1.1 for the mirroring callbacks, as the guide gives them).", example: `${responseTypePrefix('v1.0')}a.p.enablement.read.ok.v1.0` })
  type!: string;

  @ApiProperty({ description: "The request's `request_id`.", format: 'uuid', example: UUID_EXAMPLE })
  request_id!: string;

  @ApiProperty({ description: 'A new id for this answer.', format: 'uuid', example: UUID_EXAMPLE })
  response_id!: string;

  @ApiPropertyOptional({
    description: 'The result; omitted (not null) for no-content response types. A list for `a.p.customer.mirroring.get_state.ok.v1.0`, as the guide shows it.',
    type: 'object',
    additionalProperties: true,
    example: { vendor_tenant_id: UUID_EXAMPLE },
  })
  payload?: Record<string, unknown> | unknown[];
}

/** Every error of every route: the callback protocol's error envelope. */
export class ErrorEnvelopeSchema {
  @ApiPropertyOptional({ description: "The request's `request_id`, when it could be read.", example: UUID_EXAMPLE })
  request_id?: string;

  @ApiProperty({ format: 'uuid', example: UUID_EXAMPLE })
  response_id!: string;

  @ApiProperty({ description: 'What went wrong (the Acronis docs\' field, shown by the platform UI).', example: 'Failed to authenticate user.' })
  err_message!: string;

  @ApiProperty({ description: '`err_message` again, for clients of the Python sample.', example: 'Failed to authenticate user.' })
  message!: string;

  @ApiProperty({ description: 'Stable error code.', enum: ErrorCode, enumName: 'ErrorCode', example: ErrorCode.Unauthenticated })
  code!: ErrorCode;
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed request or invalid field (named in err_message)',
  401: 'Authentication failed',
  403: "Not the caller's to see or change",
  404: 'Not found (or not visible to the caller)',
  409: 'Conflict with existing data or a reused idempotency key',
  413: 'Body or batch too large',
  415: 'Content-Type is not application/json',
  429: 'Too many failed authentications (see Retry-After)',
  503: 'Temporarily unavailable',
};

/** Documents the given error statuses with the error envelope, each listing the codes it may carry. */
export function ApiErrorResponses(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) => {
      const codes = Object.values(ErrorCode).filter((code) => ERROR_STATUS[code] === status);
      return ApiResponse({
        status,
        description: `${ERROR_DESCRIPTIONS[status] ?? 'Error'}${codes.length > 0 ? ` (${codes.join(', ')})` : ''}.`,
        type: ErrorEnvelopeSchema,
      });
    }),
  );
}

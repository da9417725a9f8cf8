import { ApiHideProperty, ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  Equals,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsObject,
  IsString,
  Length,
  Max,
  MaxLength,
  Min,
  Validate,
  ValidateNested,
} from 'class-validator';
import { DomainError, ErrorCode } from '../common/domain-error';
import { Printable } from '../common/printable';
import { validateApiBody, validateDto } from '../common/validate-dto';
import { DeliveryState } from './webhook-delivery.entity';
import { WebhookFilterMatch, WebhookFilterMode, WebhookScope } from './webhook-subscription.entity';
import { Nullable, Optional } from '../common/optional-fields';

export const MAX_NAME = 255;
export const MAX_DESCRIPTION = 4096;
export const MAX_URL = 2048;
export const MAX_SECRET = 255;
export const MAX_FILTERS = 50;
export const MAX_FILTER_VALUE = 255;
export const MAX_EVENT_TYPE = 128;
export const MAX_ID = 64;
export const SUBSCRIPTIONS_LIMIT_DEFAULT = 100;
export const DELIVERIES_LIMIT_DEFAULT = 50;
export const LIMIT_MAX = 500;
export const OFFSET_MAX = 1_000_000;

/** Query strings carry text: `true`/`false` become booleans, anything else stays for `@IsBoolean` to refuse. */
export const QueryBoolean = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value));

/** CloudStack's webhook filter: include or exclude event types by exact, prefix, suffix or substring match. */
export class WebhookFilterDto {
  @ApiProperty({ enum: WebhookFilterMode, enumName: 'WebhookFilterMode' })
  @IsIn(Object.values(WebhookFilterMode), { message: `mode must be one of: ${Object.values(WebhookFilterMode).join(', ')}` })
  mode!: WebhookFilterMode;

  @ApiProperty({ enum: WebhookFilterMatch, enumName: 'WebhookFilterMatch' })
  @IsIn(Object.values(WebhookFilterMatch), { message: `match must be one of: ${Object.values(WebhookFilterMatch).join(', ')}` })
  match!: WebhookFilterMatch;

  @ApiProperty({ description: 'Compared with the event type.', minLength: 1, maxLength: MAX_FILTER_VALUE, example: 'user.' })
  @IsString() @Length(1, MAX_FILTER_VALUE) @Validate(Printable)
  value!: string;
}

/** The optional fields a subscription shares between create and update. */
class SubscriptionFieldsDto {
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: MAX_DESCRIPTION, description: 'null clears it (PATCH).' })
  @Nullable() @IsString() @MaxLength(MAX_DESCRIPTION)
  description?: string | null;

  /** Never echoed in messages: class-validator's messages name the field, not the value. */
  @ApiPropertyOptional({
    minLength: 1,
    maxLength: MAX_SECRET,
    description: 'Signing secret; generated (`whsec_` + 32 random bytes) on create when absent. Answered only by create and rotate-secret.',
  })
  @Optional() @IsString() @Length(1, MAX_SECRET, { message: `secret must be 1 to ${MAX_SECRET} characters long` })
  secret?: string;

  @ApiPropertyOptional({ default: true, description: 'Verify the receiver\'s TLS certificate; an http URL needs false.' })
  @Optional() @IsBoolean()
  ssl_verification?: boolean;

  @ApiPropertyOptional({ default: true, description: 'true also clears `disabled_reason`.' })
  @Optional() @IsBoolean()
  enabled?: boolean;

  @ApiPropertyOptional({
    enum: WebhookScope,
    enumName: 'WebhookScope',
    default: WebhookScope.Local,
    description: "Local: the owner's organization; Domain: it and its subtree; Global: everything (root organization only).",
  })
  @Optional() @IsIn(Object.values(WebhookScope), { message: `scope must be one of: ${Object.values(WebhookScope).join(', ')}` })
  scope?: WebhookScope;

  @ApiPropertyOptional({
    type: () => WebhookFilterDto,
    isArray: true,
    maxItems: MAX_FILTERS,
    description: 'Any Exclude match drops an event; if Includes exist, one must match. PATCH replaces the whole list.',
  })
  @Optional()
  @IsArray()
  @ArrayMaxSize(MAX_FILTERS, { message: `filters must hold at most ${MAX_FILTERS} filters` })
  @ValidateNested({ each: true })
  @Type(() => WebhookFilterDto)
  filters?: WebhookFilterDto[];
}

/** `POST /api/webhooks`. */
export class CreateSubscriptionDto extends SubscriptionFieldsDto {
  @ApiProperty({ minLength: 1, maxLength: MAX_NAME, example: 'CRM sync' })
  @IsString() @Length(1, MAX_NAME) @Validate(Printable)
  name!: string;

  @ApiProperty({ minLength: 1, maxLength: MAX_URL, example: 'https://hooks.example.com/cyberapp', description: 'http(s); https unless ssl_verification is false; public addresses only unless WEBHOOKS_ALLOWED_PRIVATE lists it.' })
  @IsString() @Length(1, MAX_URL) @Validate(Printable)
  payload_url!: string;

  @ApiPropertyOptional({ maxLength: MAX_ID, description: "The owner (the caller's organization or one below it); the caller's when absent." })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  organization_id?: string;
}

/** `PATCH /api/webhooks/:id`: any of the create fields but `organization_id`, at least one. */
export class UpdateSubscriptionDto extends SubscriptionFieldsDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: MAX_NAME })
  @Optional() @IsString() @Length(1, MAX_NAME) @Validate(Printable)
  name?: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: MAX_URL })
  @Optional() @IsString() @Length(1, MAX_URL) @Validate(Printable)
  payload_url?: string;

  /** Ownership does not move: refused rather than ignored, so a client that tries learns it did not happen. */
  @ApiHideProperty()
  @Optional() @Equals(undefined, { message: 'organization_id cannot be changed; create a subscription in the other organization instead' })
  organization_id?: never;
}

/** A PATCH must change something: a body without any of the fields it may change is a 400. */
export function assertSomeOf<T extends object>(fields: ReadonlyArray<keyof T & string>, dto: T): T {
  if (!fields.some((field) => dto[field] !== undefined)) {
    throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: the body must change at least one of ${fields.join(', ')}.`);
  }
  return dto;
}

export const assertChanges = (dto: UpdateSubscriptionDto): UpdateSubscriptionDto =>
  assertSomeOf(['name', 'description', 'payload_url', 'secret', 'ssl_verification', 'enabled', 'scope', 'filters'], dto);

/** Validates a PATCH body outside a route (the console's forms): as the API's pipe does, then {@link assertChanges}. */
export async function parseUpdate(body: unknown): Promise<UpdateSubscriptionDto> {
  return assertChanges(await validateApiBody(UpdateSubscriptionDto, body));
}

/** `POST /api/webhooks/:id/rotate-secret`: the new secret, or a generated one. */
export class RotateSecretDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: MAX_SECRET, description: 'The new secret; generated when absent.' })
  @Optional() @IsString() @Length(1, MAX_SECRET, { message: `secret must be 1 to ${MAX_SECRET} characters long` })
  secret?: string;
}

/** `POST /api/webhooks/:id/test`: the JSON object to send instead of `{"CloudStack":"works!"}`. */
export class TestDeliveryDto {
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Sent as is; default `{"CloudStack":"works!"}`.' })
  @Optional() @IsObject({ message: 'payload must be a JSON object' })
  payload?: Record<string, unknown>;
}

/** `GET /api/webhooks` query parameters. */
export class ListSubscriptionsQueryDto {
  @ApiPropertyOptional({ maxLength: MAX_ID, description: "Exactly this organization (the caller's or below it); every visible one when absent." })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  organization_id?: string;

  @ApiPropertyOptional({ type: Boolean })
  @Optional() @QueryBoolean() @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: LIMIT_MAX, default: SUBSCRIPTIONS_LIMIT_DEFAULT })
  @Optional() @Type(() => Number) @IsInt({ message: 'limit must be an integer' }) @Min(1) @Max(LIMIT_MAX)
  limit?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: OFFSET_MAX, default: 0 })
  @Optional() @Type(() => Number) @IsInt({ message: 'offset must be an integer' }) @Min(0) @Max(OFFSET_MAX)
  offset?: number;

  @ApiPropertyOptional({ maxLength: MAX_ID, description: 'Keyset cursor: the id of the last subscription of the previous page (not with `offset`); `total` then counts the older ones.' })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  before?: string;
}

/** The delivery filters shared by listing and bulk deletion. */
class DeliveryFilterQueryDto {
  @ApiPropertyOptional({ maxLength: MAX_EVENT_TYPE, description: 'Exact event type.', example: 'user.created' })
  @Optional() @IsString() @Length(1, MAX_EVENT_TYPE) @Validate(Printable)
  event_type?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Created at or after this instant (ISO 8601).' })
  @Optional() @IsString() @IsISO8601({ strict: true }, { message: 'since must be an ISO 8601 date-time' })
  since?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Created before this instant (ISO 8601), exclusive.' })
  @Optional() @IsString() @IsISO8601({ strict: true }, { message: 'until must be an ISO 8601 date-time' })
  until?: string;

  @ApiPropertyOptional({ type: Boolean, description: 'true: succeeded; false: failed (given up). Pending and in-flight deliveries match neither.' })
  @Optional() @QueryBoolean() @IsBoolean({ message: 'success must be true or false' })
  success?: boolean;

  @ApiPropertyOptional({ enum: DeliveryState, enumName: 'DeliveryState' })
  @Optional() @IsIn(Object.values(DeliveryState), { message: `state must be one of: ${Object.values(DeliveryState).join(', ')}` })
  state?: DeliveryState;
}

/** `GET /api/webhooks/deliveries` query parameters. */
export class ListDeliveriesQueryDto extends DeliveryFilterQueryDto {
  @ApiPropertyOptional({ maxLength: MAX_ID })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  subscription_id?: string;

  @ApiPropertyOptional({ maxLength: MAX_ID, description: 'Only the deliveries of this event id, to every subscription you can see (redeliveries included).' })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  event_id?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: LIMIT_MAX, default: DELIVERIES_LIMIT_DEFAULT })
  @Optional() @Type(() => Number) @IsInt({ message: 'limit must be an integer' }) @Min(1) @Max(LIMIT_MAX)
  limit?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: OFFSET_MAX, default: 0 })
  @Optional() @Type(() => Number) @IsInt({ message: 'offset must be an integer' }) @Min(0) @Max(OFFSET_MAX)
  offset?: number;

  @ApiPropertyOptional({ maxLength: MAX_ID, description: 'Keyset cursor: the id of the last delivery of the previous page (not with `offset`); `total` then counts the older ones.' })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  before?: string;

  @ApiPropertyOptional({ type: Boolean, description: 'false: only deliveries that no redelivery was made of (with `success=false`, the dead letters); true: only those redelivered.' })
  @Optional() @QueryBoolean() @IsBoolean({ message: 'replayed must be true or false' })
  replayed?: boolean;
}

/** `DELETE /api/webhooks/deliveries` query parameters: one subscription's deliveries, narrowed by the filters. */
export class DeleteDeliveriesQueryDto extends DeliveryFilterQueryDto {
  @ApiProperty({ maxLength: MAX_ID, description: "Required: the subscription whose deliveries are deleted." })
  @IsString({ message: 'subscription_id is required' }) @Length(1, MAX_ID) @Validate(Printable)
  subscription_id!: string;
}

const BULK_DELETE_PARAMETERS = new Set(['subscription_id', 'event_type', 'since', 'until', 'success', 'state']);

/** `since` and `until` as dates; `since` after `until` is a 400 rather than a silently empty answer. */
export function timeRangeOf(query: { since?: string; until?: string }): { since?: Date; until?: Date } {
  const parse = (field: 'since' | 'until'): Date | undefined => {
    const raw = query[field];
    if (raw === undefined) return undefined;
    const date = new Date(raw);
    if (Number.isNaN(date.getTime())) throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: query.${field} is not a valid date.`);
    return date;
  };
  const range = { since: parse('since'), until: parse('until') };
  if (range.since && range.until && range.since > range.until) {
    throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: query.since must not be after query.until.');
  }
  return range;
}

/**
 * Validates the bulk-delete query. A parameter this route does not know is a 400, not ignored: a
 * misspelt filter (`untill=`) would otherwise widen the deletion to every delivery of the subscription.
 */
export async function parseBulkDelete(query: unknown): Promise<DeleteDeliveriesQueryDto> {
  if (query !== null && typeof query === 'object') {
    const unknown = Object.keys(query).filter((k) => !BULK_DELETE_PARAMETERS.has(k));
    if (unknown.length > 0) {
      throw new DomainError(
        ErrorCode.ValidationFailed,
        `Invalid request: unknown query parameter ${unknown.map((k) => JSON.stringify(k.slice(0, 64))).join(', ')}; known: ${[...BULK_DELETE_PARAMETERS].join(', ')}.`,
      );
    }
  }
  return validateDto(DeleteDeliveriesQueryDto, query, 'query');
}

import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Max,
  MaxLength,
  Min,
  Validate,
  ValidateIf,
  ValidateNested,
  ValidationArguments,
  ValidatorConstraint,
  ValidatorConstraintInterface,
} from 'class-validator';
import { DomainError, ErrorCode } from '../common/domain-error';
import { Printable } from '../common/printable';
import { validateApiBody } from '../common/validate-dto';
import { ConnectorItemKind, ConnectorItemState } from './connector-item.entity';

const MAX_STRING = 255;
const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

@ValidatorConstraint({ name: 'isStringMap' })
class IsStringMap implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return isPlainObject(value) && Object.values(value).every((v) => typeof v === 'string');
  }

  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be an object of string values`;
  }
}

/** The body field of each kind: an item carries its own kind's only. */
const BODY_FIELDS = Object.values(ConnectorItemKind);

/** An item carries the body of its own kind only: `{"kind":"alert","alert":{…}}`. */
@ValidatorConstraint({ name: 'bodyMatchesKind' })
class BodyMatchesKind implements ValidatorConstraintInterface {
  validate(kind: unknown, args: ValidationArguments): boolean {
    const item = args.object as unknown as Record<string, unknown>;
    return BODY_FIELDS.every((field) => field === kind || item[field] === undefined);
  }

  defaultMessage(args: ValidationArguments): string {
    const item = args.object as unknown as Record<string, unknown>;
    const other = BODY_FIELDS.find((field) => field !== args.value && item[field] !== undefined);
    return `kind is ${String(args.value)}, so the item must not carry "${String(other)}"`;
  }
}

export class AlertDetailsDto {
  @ApiProperty({ maxLength: MAX_STRING, example: 'Malware Quarantined' })
  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  title!: string;

  @ApiProperty({ maxLength: MAX_STRING, example: 'Malware Detected' })
  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  category!: string;

  @ApiProperty({ example: 'Malicious file "trojan.exe" was put into quarantine.' })
  @IsString()
  description!: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, example: { 'Malware type': 'Trojan', 'Device ID': 'dev-42' } })
  @IsOptional() @Validate(IsStringMap)
  fields?: Record<string, string>;
}

/** An Acronis Alert Manager alert without `tenantID` (docs/protocols.md); the tenant is added at send time. */
export class AlertDto {
  @ApiProperty({ maxLength: MAX_STRING, example: 'cti.a.p.am.alert.v1.0~a.p.basic.v1.0~vendor.app.malware_detected.v1.0' })
  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  type!: string;

  @ApiProperty({ maxLength: MAX_STRING, example: 'cti.a.p.am.category.v1.0~vendor.app.protection.v1.0' })
  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  category!: string;

  @ApiProperty({ type: () => AlertDetailsDto })
  @IsObject() @ValidateNested() @Type(() => AlertDetailsDto)
  details!: AlertDetailsDto;

  @ApiPropertyOptional({ maxLength: MAX_STRING, description: 'Links a workload; with ResourceName, both or neither.' })
  @ValidateIf((o: AlertDto) => o.ResourceID !== undefined || o.ResourceName !== undefined)
  @IsString({ message: 'ResourceID must be a string (ResourceID and ResourceName go together)' })
  @IsNotEmpty() @MaxLength(MAX_STRING)
  ResourceID?: string;

  @ApiPropertyOptional({ maxLength: MAX_STRING, description: 'With ResourceID, both or neither.' })
  @ValidateIf((o: AlertDto) => o.ResourceID !== undefined || o.ResourceName !== undefined)
  @IsString({ message: 'ResourceName must be a string (ResourceID and ResourceName go together)' })
  @IsNotEmpty() @MaxLength(MAX_STRING)
  ResourceName?: string;
}

/**
 * An Acronis workload without `client_id` and `tenant_id`, which are added at send time, and with
 * the vendor's stable `key` of the device, which the gateway sends in the
 * CONNECTOR_WORKLOAD_KEY_ATTRIBUTE attribute and keeps the workload in sync by.
 */
export class WorkloadDto {
  @ApiProperty({
    maxLength: MAX_STRING,
    example: 'device-42',
    description: "The vendor's stable key of the device, unique per organization and type: the same key again updates the workload (nothing is sent when unchanged).",
  })
  @IsString() @Length(1, MAX_STRING) @Validate(Printable)
  key!: string;

  @ApiProperty({ maxLength: MAX_STRING, example: 'cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.virtual_machine.v1.0' })
  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  type!: string;

  @ApiProperty({ maxLength: MAX_STRING, example: 'vm-042' })
  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  name!: string;

  @ApiProperty({ type: 'object', additionalProperties: true, example: {} })
  @IsObject()
  attributes!: Record<string, unknown>;

  @ApiPropertyOptional({ type: String, isArray: true, default: [] })
  @IsOptional() @IsArray() @IsString({ each: true })
  allowed_actions?: string[];

  @ApiPropertyOptional({ default: true })
  @IsOptional() @IsBoolean()
  enabled?: boolean;
}

/** Dismisses the alert an earlier item of the same organization created. */
export class AlertDismissalDto {
  @ApiProperty({ maxLength: MAX_STRING, description: 'The `idempotency_key` of the alert item to dismiss.' })
  @IsString() @Length(1, MAX_STRING) @Validate(Printable)
  alert_key!: string;
}

/** Deletes the workload of a device the vendor no longer has. */
export class WorkloadRemovalDto {
  @ApiProperty({ maxLength: MAX_STRING, example: 'cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.virtual_machine.v1.0' })
  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  type!: string;

  @ApiProperty({ maxLength: MAX_STRING, example: 'device-42', description: 'The `key` the workload was submitted with.' })
  @IsString() @Length(1, MAX_STRING) @Validate(Printable)
  key!: string;
}

/** A kind's body field, checked on items of that kind only. Decorators in stacked order (bottom first); `type` a property arrow: Swagger knows a lazy type by its name. */
const BodyOfKind = (kind: ConnectorItemKind, dto: () => new () => object): PropertyDecorator =>
  applyDecorators(Type(dto), ValidateNested(), IsObject(), ValidateIf((o: IntakeItemDto) => o.kind === kind), ApiPropertyOptional({ type: () => dto(), description: `When kind is ${kind}.` }));

export class IntakeItemDto {
  @ApiProperty({
    minLength: 1,
    maxLength: MAX_STRING,
    description: 'Unique per organization, never expires: the same key with the same body is a replay, with another body a 409.',
  })
  @IsString() @Length(1, MAX_STRING) @Validate(Printable)
  idempotency_key!: string;

  @ApiProperty({ enum: ConnectorItemKind, enumName: 'ConnectorItemKind', description: 'Names the one body the item carries.' })
  @IsIn(Object.values(ConnectorItemKind)) @Validate(BodyMatchesKind)
  kind!: ConnectorItemKind;

  @BodyOfKind(ConnectorItemKind.Alert, () => AlertDto)
  alert?: AlertDto;

  @BodyOfKind(ConnectorItemKind.Workload, () => WorkloadDto)
  workload?: WorkloadDto;

  @BodyOfKind(ConnectorItemKind.AlertDismissal, () => AlertDismissalDto)
  alert_dismissal?: AlertDismissalDto;

  @BodyOfKind(ConnectorItemKind.WorkloadRemoval, () => WorkloadRemovalDto)
  workload_removal?: WorkloadRemovalDto;
}

/** `POST /api/connector/items`. The batch size limit is config, checked by parseIntakeBatch. */
export class IntakeBatchDto {
  @ApiProperty({ maxLength: 64, description: "The caller's organization or one below it." })
  @IsString() @Length(1, 64) @Validate(Printable)
  organization_id!: string;

  @ApiProperty({ type: () => IntakeItemDto, isArray: true, minItems: 1, description: 'At most CONNECTOR_INTAKE_MAX_BATCH (413 beyond); stored all or nothing.' })
  @IsArray() @ArrayMinSize(1, { message: 'items must hold at least one item' }) @ValidateNested({ each: true }) @Type(() => IntakeItemDto)
  items!: IntakeItemDto[];

  @ApiPropertyOptional({ default: false, description: 'Run the connector now rather than at its next scheduled pass.' })
  @IsOptional() @IsBoolean()
  send_now?: boolean;
}

/**
 * Validates an intake body. The batch size is checked before the items, so that an oversize batch
 * answers 413 without validating thousands of items; a key repeated inside the batch is a 400
 * (the client would otherwise get one item back for two of its own).
 */
export async function parseIntakeBatch(body: unknown, maxBatch: number, keyAttribute: string): Promise<IntakeBatchDto> {
  if (isPlainObject(body) && Array.isArray(body.items) && body.items.length > maxBatch) {
    throw new DomainError(ErrorCode.PayloadTooLarge, `A batch holds at most ${maxBatch} items; this one has ${body.items.length}.`);
  }
  const batch = await validateApiBody(IntakeBatchDto, body);
  const seen = new Map<string, number>();
  batch.items.forEach((item, index) => {
    const first = seen.get(item.idempotency_key);
    if (first !== undefined) {
      throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: items.${index}.idempotency_key repeats items.${first}.idempotency_key.`);
    }
    seen.set(item.idempotency_key, index);
    if (item.workload && Object.prototype.hasOwnProperty.call(item.workload.attributes, keyAttribute)) {
      throw new DomainError(
        ErrorCode.ValidationFailed,
        `Invalid request: items.${index}.workload.attributes.${keyAttribute} is set by the gateway from items.${index}.workload.key.`,
      );
    }
  });
  return batch;
}

export const LIST_LIMIT_DEFAULT = 50;
export const LIST_LIMIT_MAX = 500;

/** `GET /api/connector/items` query parameters. */
export class ListItemsQueryDto {
  @ApiPropertyOptional({ maxLength: 64, description: "One organization of the caller's subtree; all of them when absent." })
  @IsOptional() @IsString() @Length(1, 64) @Validate(Printable)
  organization_id?: string;

  @ApiPropertyOptional({ enum: ConnectorItemState, enumName: 'ConnectorItemState' })
  @IsOptional() @IsIn(Object.values(ConnectorItemState))
  state?: ConnectorItemState;

  @ApiPropertyOptional({ enum: ConnectorItemKind, enumName: 'ConnectorItemKind' })
  @IsOptional() @IsIn(Object.values(ConnectorItemKind))
  kind?: ConnectorItemKind;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: LIST_LIMIT_MAX, default: LIST_LIMIT_DEFAULT })
  @IsOptional() @Type(() => Number) @IsInt({ message: 'limit must be an integer' }) @Min(1) @Max(LIST_LIMIT_MAX)
  limit?: number;

  /** Keyset cursor: the id of the last item of the previous page (`next_before`). */
  @ApiPropertyOptional({ maxLength: 64, description: 'Keyset cursor: `next_before` of the previous page.' })
  @IsOptional() @IsString() @Length(1, 64) @Validate(Printable)
  before?: string;
}

/** `GET /api/connector/runs`: `before` is the id of the last run of the previous page. */
export class ListRunsQueryDto extends PickType(ListItemsQueryDto, ['limit', 'before'] as const) {}

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
import { validateDto } from '../common/validate-dto';
import { ConnectorItemKind, ConnectorItemState } from './connector-item.entity';

const MAX_STRING = 255;
const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Ids and keys end up as SQL parameters and in logs: PostgreSQL refuses NUL in text, and no key needs a control character. */
export function hasControlCharacters(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

@ValidatorConstraint({ name: 'printable' })
class Printable implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value !== 'string' || !hasControlCharacters(value);
  }

  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must not contain control characters`;
  }
}

@ValidatorConstraint({ name: 'isStringMap' })
class IsStringMap implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return isPlainObject(value) && Object.values(value).every((v) => typeof v === 'string');
  }

  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be an object of string values`;
  }
}

/** An item carries the body of its own kind only: `{"kind":"alert","alert":{…}}`. */
@ValidatorConstraint({ name: 'bodyMatchesKind' })
class BodyMatchesKind implements ValidatorConstraintInterface {
  validate(kind: unknown, args: ValidationArguments): boolean {
    const item = args.object as IntakeItemDto;
    if (kind === ConnectorItemKind.Alert) return item.workload === undefined;
    if (kind === ConnectorItemKind.Workload) return item.alert === undefined;
    return true;
  }

  defaultMessage(args: ValidationArguments): string {
    const other = args.value === ConnectorItemKind.Alert ? ConnectorItemKind.Workload : ConnectorItemKind.Alert;
    return `kind is ${String(args.value)}, so the item must not carry "${other}"`;
  }
}

export class AlertDetailsDto {
  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  title!: string;

  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  category!: string;

  @IsString()
  description!: string;

  @IsOptional() @Validate(IsStringMap)
  fields?: Record<string, string>;
}

/** An Acronis Alert Manager alert without `tenantID` (DESIGN 7.1); the tenant is added at send time. */
export class AlertDto {
  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  type!: string;

  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  category!: string;

  @IsObject() @ValidateNested() @Type(() => AlertDetailsDto)
  details!: AlertDetailsDto;

  /** ResourceID and ResourceName link a workload: both or neither. */
  @ValidateIf((o: AlertDto) => o.ResourceID !== undefined || o.ResourceName !== undefined)
  @IsString({ message: 'ResourceID must be a string (ResourceID and ResourceName go together)' })
  @IsNotEmpty() @MaxLength(MAX_STRING)
  ResourceID?: string;

  @ValidateIf((o: AlertDto) => o.ResourceID !== undefined || o.ResourceName !== undefined)
  @IsString({ message: 'ResourceName must be a string (ResourceID and ResourceName go together)' })
  @IsNotEmpty() @MaxLength(MAX_STRING)
  ResourceName?: string;
}

/** An Acronis workload without `client_id` and `tenant_id`, which are added at send time. */
export class WorkloadDto {
  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  type!: string;

  @IsString() @IsNotEmpty() @MaxLength(MAX_STRING)
  name!: string;

  @IsObject()
  attributes!: Record<string, unknown>;

  /** Defaults to `[]`. */
  @IsOptional() @IsArray() @IsString({ each: true })
  allowed_actions?: string[];

  /** Defaults to `true`. */
  @IsOptional() @IsBoolean()
  enabled?: boolean;
}

export class IntakeItemDto {
  @IsString() @Length(1, MAX_STRING) @Validate(Printable)
  idempotency_key!: string;

  @IsIn(Object.values(ConnectorItemKind)) @Validate(BodyMatchesKind)
  kind!: ConnectorItemKind;

  @ValidateIf((o: IntakeItemDto) => o.kind === ConnectorItemKind.Alert)
  @IsObject() @ValidateNested() @Type(() => AlertDto)
  alert?: AlertDto;

  @ValidateIf((o: IntakeItemDto) => o.kind === ConnectorItemKind.Workload)
  @IsObject() @ValidateNested() @Type(() => WorkloadDto)
  workload?: WorkloadDto;
}

/** `POST /api/connector/items`. The batch size limit is config, checked by parseIntakeBatch. */
export class IntakeBatchDto {
  @IsString() @Length(1, 64) @Validate(Printable)
  organization_id!: string;

  @IsArray() @ArrayMinSize(1, { message: 'items must hold at least one item' }) @ValidateNested({ each: true }) @Type(() => IntakeItemDto)
  items!: IntakeItemDto[];

  /** Ask the connector to run now rather than at its next scheduled pass. */
  @IsOptional() @IsBoolean()
  send_now?: boolean;
}

/**
 * Validates an intake body. The batch size is checked before the items, so that an oversize batch
 * answers 413 without validating thousands of items; a key repeated inside the batch is a 400
 * (the client would otherwise get one item back for two of its own).
 */
export async function parseIntakeBatch(body: unknown, maxBatch: number): Promise<IntakeBatchDto> {
  if (isPlainObject(body) && Array.isArray(body.items) && body.items.length > maxBatch) {
    throw new DomainError(ErrorCode.PayloadTooLarge, `A batch holds at most ${maxBatch} items; this one has ${body.items.length}.`);
  }
  const batch = await validateDto(IntakeBatchDto, body);
  const seen = new Map<string, number>();
  batch.items.forEach((item, index) => {
    const first = seen.get(item.idempotency_key);
    if (first !== undefined) {
      throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: items.${index}.idempotency_key repeats items.${first}.idempotency_key.`);
    }
    seen.set(item.idempotency_key, index);
  });
  return batch;
}

export const LIST_LIMIT_DEFAULT = 50;
export const LIST_LIMIT_MAX = 500;

/** `GET /api/connector/items` query parameters. */
export class ListItemsQueryDto {
  /** One organization of the caller's subtree; all of them when absent. */
  @IsOptional() @IsString() @Length(1, 64) @Validate(Printable)
  organization_id?: string;

  @IsOptional() @IsIn(Object.values(ConnectorItemState))
  state?: ConnectorItemState;

  @IsOptional() @IsIn(Object.values(ConnectorItemKind))
  kind?: ConnectorItemKind;

  @IsOptional() @Type(() => Number) @IsInt({ message: 'limit must be an integer' }) @Min(1) @Max(LIST_LIMIT_MAX)
  limit?: number;

  /** Keyset cursor: the id of the last item of the previous page (`next_before`). */
  @IsOptional() @IsString() @Length(1, 64) @Validate(Printable)
  before?: string;
}

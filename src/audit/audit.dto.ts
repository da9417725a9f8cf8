import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsString, Length, Matches, Max, Min, Validate, ValidateIf } from 'class-validator';
import { Printable } from '../common/printable';
import { AuditKind, AuditOutcome } from './audit-record.entity';

export const AUDIT_LIMIT_DEFAULT = 50;
export const AUDIT_LIMIT_MAX = 500;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Present means validated: an empty `?kind=` is refused rather than read as "any". */
const Optional = (): PropertyDecorator => ValidateIf((_object: unknown, value: unknown) => value !== undefined);

/** `GET /api/audit` query parameters; any other parameter is a 400. */
export class ListAuditQueryDto {
  @ApiPropertyOptional({ enum: AuditKind, enumName: 'AuditKind' })
  @Optional() @IsIn(Object.values(AuditKind), { message: `kind must be one of: ${Object.values(AuditKind).join(', ')}` })
  kind?: AuditKind;

  @ApiPropertyOptional({ enum: AuditOutcome, enumName: 'AuditOutcome' })
  @Optional() @IsIn(Object.values(AuditOutcome), { message: `outcome must be one of: ${Object.values(AuditOutcome).join(', ')}` })
  outcome?: AuditOutcome;

  @ApiPropertyOptional({ description: "Exactly this organization's records (yours or one below it; another is a 404)." })
  @Optional() @IsString() @Length(1, 64) @Validate(Printable)
  organization_id?: string;

  @ApiPropertyOptional({ description: 'The Acronis tenant named by the platform (`context.tenant_id`), exactly.' })
  @Optional() @IsString() @Length(1, 64) @Validate(Printable)
  tenant_id?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Recorded at or after this instant (ISO 8601).' })
  @Optional() @IsString() @IsISO8601({ strict: true }, { message: 'from must be an ISO 8601 date-time' })
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Recorded before this instant (ISO 8601), exclusive.' })
  @Optional() @IsString() @IsISO8601({ strict: true }, { message: 'to must be an ISO 8601 date-time' })
  to?: string;

  @ApiPropertyOptional({ maxLength: 255, description: 'Exactly a request id, event id, `work_id`, action id, delivery id or record id.' })
  @Optional() @IsString() @Length(1, 255) @Validate(Printable)
  q?: string;

  @ApiPropertyOptional({ format: 'uuid', description: 'Keyset cursor: the id of the last record of the previous page; the page holds the older ones.' })
  @Optional() @IsString() @Matches(UUID, { message: 'before must be a record id (a lower-case UUID)' })
  before?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: AUDIT_LIMIT_MAX, default: AUDIT_LIMIT_DEFAULT })
  @Optional() @Type(() => Number) @IsInt({ message: 'limit must be an integer' }) @Min(1) @Max(AUDIT_LIMIT_MAX)
  limit?: number;
}

/* Documentation-only: the OpenAPI shapes of the answers. */

export class AuditRecordSchema {
  @ApiProperty({ format: 'uuid', description: 'UUIDv7: sorts by time. An event\'s and a delivery\'s records have the id of the event and the delivery.' })
  id!: string;

  @ApiProperty({ format: 'date-time' })
  at!: string;

  @ApiProperty({ enum: AuditKind, enumName: 'AuditKind' })
  kind!: AuditKind;

  @ApiProperty({ type: String, nullable: true, description: 'What was done: the callback id, event type, hook operation, subscription…' })
  name!: string | null;

  @ApiProperty({ enum: AuditOutcome, enumName: 'AuditOutcome' })
  outcome!: AuditOutcome;

  @ApiProperty({ type: String, nullable: true, description: 'The outcome code: HTTP status, error code, decision, state.' })
  code!: string | null;

  @ApiProperty({ type: String, nullable: true })
  organization_id!: string | null;

  @ApiProperty({ type: String, nullable: true })
  tenant_id!: string | null;

  @ApiProperty({ type: String, nullable: true, description: "The caller's login (never its password)." })
  actor!: string | null;

  @ApiProperty({ type: String, nullable: true })
  request_id!: string | null;

  @ApiProperty({ type: String, nullable: true })
  event_id!: string | null;

  @ApiProperty({ type: String, nullable: true })
  delivery_id!: string | null;

  @ApiProperty({ type: String, nullable: true })
  work_id!: string | null;

  @ApiProperty({ type: String, nullable: true })
  action_id!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The record of what caused this one.' })
  cause_id!: string | null;

  @ApiProperty({ type: Number, nullable: true })
  duration_ms!: number | null;

  @ApiProperty({ type: Object, nullable: true, description: 'A few small facts by kind.' })
  detail!: Record<string, unknown> | null;
}

export class AuditPageSchema {
  @ApiProperty({ type: () => AuditRecordSchema, isArray: true, description: 'Newest first.' })
  items!: AuditRecordSchema[];

  @ApiProperty({ type: String, nullable: true, description: 'The `before` of the next (older) page; null on the last one.' })
  next_before!: string | null;
}

export class AuditChainSchema {
  @ApiProperty({ type: () => AuditRecordSchema })
  record!: AuditRecordSchema;

  @ApiProperty({ type: () => AuditRecordSchema, isArray: true, description: 'What caused it: its cause, that one\'s cause, and so on (those you can see).' })
  caused_by!: AuditRecordSchema[];

  @ApiProperty({ type: () => AuditRecordSchema, isArray: true, description: 'What it caused, and what that caused, oldest first (those you can see); `cause_id` makes the tree.' })
  caused!: AuditRecordSchema[];
}

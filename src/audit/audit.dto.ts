import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsString, Length, Matches, Max, Min, Validate } from 'class-validator';
import { Printable } from '../common/printable';
import { AuditKind, AuditOutcome } from './audit-record.entity';
import { Optional } from '../common/optional-fields';
import { RECORD_ID } from './audit-ids';

export const AUDIT_LIMIT_DEFAULT = 50;
export const AUDIT_LIMIT_MAX = 500;

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
  @Optional() @IsString() @Matches(RECORD_ID, { message: 'before must be a record id (a lower-case UUID)' })
  before?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: AUDIT_LIMIT_MAX, default: AUDIT_LIMIT_DEFAULT })
  @Optional() @Type(() => Number) @IsInt({ message: 'limit must be an integer' }) @Min(1) @Max(AUDIT_LIMIT_MAX)
  limit?: number;
}

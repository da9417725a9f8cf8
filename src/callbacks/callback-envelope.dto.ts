import { Type } from 'class-transformer';
import { IsDefined, IsISO8601, IsNotEmpty, IsObject, IsOptional, IsString, Matches, MaxLength, ValidateNested } from 'class-validator';

/** UUIDs are checked by shape only: the platform's examples use the nil UUID. */
export const UUID_SHAPE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export class CallbackContextDto {
  @IsString() @IsNotEmpty() @MaxLength(255)
  callback_id!: string;

  @IsString() @IsNotEmpty() @MaxLength(255)
  endpoint_id!: string;

  @IsString() @Matches(UUID_SHAPE, { message: 'tenant_id must be a UUID' })
  tenant_id!: string;

  @IsOptional() @IsString() @MaxLength(255)
  datacenter_url?: string;
}

/** The API Callback Gateway's request envelope (DESIGN.md 7.1). */
export class CallbackEnvelopeDto {
  @IsString() @IsNotEmpty() @MaxLength(255)
  type!: string;

  @IsString() @Matches(UUID_SHAPE, { message: 'request_id must be a UUID' })
  request_id!: string;

  @IsString() @IsISO8601({}, { message: 'created_at must be an ISO 8601 date-time' })
  created_at!: string;

  @IsDefined() @IsObject() @ValidateNested() @Type(() => CallbackContextDto)
  context!: CallbackContextDto;

  @IsOptional() @IsObject()
  payload?: Record<string, unknown>;
}

import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayUnique, IsArray, IsIn, IsInt, IsObject, IsString, Length, Matches, Max, MaxLength, Min, Validate } from 'class-validator';
import { Printable } from '../common/printable';
import { ActionState } from './action.entity';
import { Nullable, Optional } from '../common/optional-fields';

export const MAX_NAME = 255;
export const MAX_PARAMETERS = 100;
export const MAX_DESCRIPTION = 4096;
export const LIMIT_DEFAULT = 100;
export const LIMIT_MAX = 500;
export const MIN_TIMEOUT_MS = 1000;
export const MAX_TIMEOUT_MS = 7 * 24 * 3600 * 1000;
/** Capability and parameter names: HIRO's are identifiers (`ExecuteCommand`, `Host`). */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const ParameterNames = (): PropertyDecorator => {
  const decorators = [
    IsArray(),
    ArrayMaxSize(MAX_PARAMETERS),
    ArrayUnique(),
    IsString({ each: true }),
    Length(1, MAX_NAME, { each: true }),
    Matches(IDENTIFIER, { each: true, message: '$property must hold parameter names (letters, digits, _ . -, not starting with a digit)' }),
  ];
  return (target: object, key: string | symbol) => decorators.forEach((d) => d(target, key));
};

export class CreateCapabilityDto {
  @ApiProperty({ example: 'ExecuteCommand', maxLength: MAX_NAME })
  @IsString() @Length(1, MAX_NAME) @Matches(IDENTIFIER, { message: 'name must be an identifier (letters, digits, _ . -, not starting with a digit)' })
  name!: string;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: MAX_DESCRIPTION })
  @Nullable() @IsString() @MaxLength(MAX_DESCRIPTION)
  description?: string | null;

  @ApiPropertyOptional({ type: [String], example: ['Command'] })
  @Optional() @ParameterNames()
  mandatory_parameters?: string[];

  @ApiPropertyOptional({ type: [String], example: ['Host'] })
  @Optional() @ParameterNames()
  optional_parameters?: string[];

  @ApiPropertyOptional({ description: "The owner; the caller's organization when absent." })
  @Optional() @IsString() @Length(1, 64) @Validate(Printable)
  organization_id?: string;
}

export class UpdateCapabilityDto {
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: MAX_DESCRIPTION })
  @Nullable() @IsString() @MaxLength(MAX_DESCRIPTION)
  description?: string | null;

  @ApiPropertyOptional({ type: [String] })
  @Optional() @ParameterNames()
  mandatory_parameters?: string[];

  @ApiPropertyOptional({ type: [String] })
  @Optional() @ParameterNames()
  optional_parameters?: string[];
}

export class CreateApplicabilityDto {
  @ApiProperty() @IsString() @Length(1, 64) @Validate(Printable)
  handler_id!: string;

  @ApiProperty() @IsString() @Length(1, 64) @Validate(Printable)
  capability_id!: string;

  @ApiPropertyOptional({ description: 'Extra parameters, used where the submitter gives none.', example: { Host: 'srv1' } })
  @Optional() @IsObject()
  parameters?: Record<string, unknown>;
}

export class CreateHandlerDto {
  @ApiProperty({ example: 'datacenter-1', maxLength: MAX_NAME })
  @IsString() @Length(1, MAX_NAME) @Validate(Printable)
  name!: string;

  @ApiPropertyOptional({ description: "The owner; the caller's organization when absent." })
  @Optional() @IsString() @Length(1, 64) @Validate(Printable)
  organization_id?: string;
}

export class SubmitActionDto {
  @ApiProperty({ example: 'ExecuteCommand' })
  @IsString() @Length(1, MAX_NAME) @Validate(Printable)
  capability!: string;

  @ApiPropertyOptional({ example: { Command: 'uptime' } })
  @Optional() @IsObject()
  parameters?: Record<string, unknown>;

  @ApiPropertyOptional({ description: 'A handler with an applicability for the capability; chosen when absent.' })
  @Optional() @IsString() @Length(1, 64) @Validate(Printable)
  handler_id?: string;

  @ApiPropertyOptional({ minimum: MIN_TIMEOUT_MS, maximum: MAX_TIMEOUT_MS, description: 'Milliseconds; ACTIONS_DEFAULT_TIMEOUT_MS when absent.' })
  @Optional() @IsInt() @Min(MIN_TIMEOUT_MS) @Max(MAX_TIMEOUT_MS)
  timeout_ms?: number;

  @ApiPropertyOptional({ description: "The organization whose capability and handler are used; the caller's when absent." })
  @Optional() @IsString() @Length(1, 64) @Validate(Printable)
  organization_id?: string;
}

export class OrganizationQueryDto {
  @ApiPropertyOptional() @Optional() @IsString() @Length(1, 64) @Validate(Printable)
  organization_id?: string;
}

export class ListActionsQueryDto extends OrganizationQueryDto {
  @ApiPropertyOptional() @Optional() @IsString() @Length(1, 64) @Validate(Printable)
  handler_id?: string;

  @ApiPropertyOptional({ enum: ActionState })
  @Optional() @IsIn(Object.values(ActionState), { message: `state must be one of: ${Object.values(ActionState).join(', ')}` })
  state?: ActionState;

  @ApiPropertyOptional({ description: 'Only actions of this capability (by name).' })
  @Optional() @IsString() @Length(1, MAX_NAME) @Validate(Printable)
  capability?: string;

  @ApiPropertyOptional({ description: 'The id of the last action of the previous page: the actions after it, newest first (stays right while actions arrive). Not with offset.' })
  @Optional() @IsString() @Length(1, 64) @Validate(Printable)
  before?: string;

  @ApiPropertyOptional({ default: LIMIT_DEFAULT, maximum: LIMIT_MAX })
  @Optional() @Type(() => Number) @IsInt() @Min(1) @Max(LIMIT_MAX)
  limit?: number;

  @ApiPropertyOptional({ default: 0, description: 'Actions to skip (kept for older clients; prefer before).' })
  @Optional() @Type(() => Number) @IsInt() @Min(0) @Max(1_000_000)
  offset?: number;
}

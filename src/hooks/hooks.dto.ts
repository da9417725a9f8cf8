import { ApiHideProperty, ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, Equals, IsArray, IsBoolean, IsIn, IsInt, IsISO8601, IsString, Length, Max, Min, Validate } from 'class-validator';
import { Printable } from '../common/printable';
import { assertSomeOf, LIMIT_MAX, MAX_ID, MAX_NAME, MAX_SECRET, MAX_URL, OFFSET_MAX, QueryBoolean } from '../webhooks/webhooks.dto';
import { HOOK_OPERATIONS, HookDecisionOutcome, HookFailurePolicy, HookOperation, HookPhase } from './hook-operation';
import { Optional } from '../common/optional-fields';

/** The longest a pre-hook may take before its failure policy decides. */
export const MAX_HOOK_TIMEOUT_MS = 30_000;
export const MIN_HOOK_TIMEOUT_MS = 100;
export const HOOKS_LIMIT_DEFAULT = 100;
export const DECISIONS_LIMIT_DEFAULT = 50;

const oneOf = (field: string, values: string[]): string => `${field} must be one of: ${values.join(', ')}`;

class HookFieldsDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: MAX_NAME, description: 'A label; "approval hook" when absent.' })
  @Optional() @IsString() @Length(1, MAX_NAME) @Validate(Printable)
  name?: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: MAX_SECRET, description: 'Signing secret; generated (`whsec_…`) on create when absent. Answered only by create and rotate-secret.' })
  @Optional() @IsString() @Length(1, MAX_SECRET, { message: `secret must be 1 to ${MAX_SECRET} characters long` })
  secret?: string;

  @ApiPropertyOptional({ enum: HookPhase, enumName: 'HookPhase', default: HookPhase.Both })
  @Optional() @IsIn(Object.values(HookPhase), { message: oneOf('phase', Object.values(HookPhase)) })
  phase?: HookPhase;

  @ApiPropertyOptional({ type: 'integer', minimum: MIN_HOOK_TIMEOUT_MS, maximum: MAX_HOOK_TIMEOUT_MS, description: 'Pre-hook timeout; HOOKS_DEFAULT_TIMEOUT_MS when absent.' })
  @Optional() @IsInt({ message: 'timeout_ms must be an integer' }) @Min(MIN_HOOK_TIMEOUT_MS) @Max(MAX_HOOK_TIMEOUT_MS)
  timeout_ms?: number;

  @ApiPropertyOptional({ enum: HookFailurePolicy, enumName: 'HookFailurePolicy', default: HookFailurePolicy.FailClosed })
  @Optional() @IsIn(Object.values(HookFailurePolicy), { message: oneOf('failure_policy', Object.values(HookFailurePolicy)) })
  failure_policy?: HookFailurePolicy;

  @ApiPropertyOptional({ default: true, description: "Verify the hook's TLS certificate; an http URL needs false." })
  @Optional() @IsBoolean()
  ssl_verification?: boolean;

  @ApiPropertyOptional({ default: true })
  @Optional() @IsBoolean()
  enabled?: boolean;
}

/** `POST /api/hooks`. */
export class CreateHookDto extends HookFieldsDto {
  @ApiProperty({ minLength: 1, maxLength: MAX_URL, example: 'https://approvals.example.com/hook' })
  @IsString() @Length(1, MAX_URL) @Validate(Printable)
  url!: string;

  @ApiProperty({ enum: HookOperation, enumName: 'HookOperation', isArray: true })
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(HOOK_OPERATIONS.length) @ArrayUnique()
  @IsIn(HOOK_OPERATIONS, { each: true, message: oneOf('each of operations', HOOK_OPERATIONS) })
  operations!: HookOperation[];

  @ApiPropertyOptional({ maxLength: MAX_ID, description: "The owner (the caller's organization or one below it); the caller's when absent." })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  organization_id?: string;
}

/** `PATCH /api/hooks/:id`: any field of create but `organization_id`, at least one. */
export class UpdateHookDto extends HookFieldsDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: MAX_URL })
  @Optional() @IsString() @Length(1, MAX_URL) @Validate(Printable)
  url?: string;

  @ApiPropertyOptional({ enum: HookOperation, enumName: 'HookOperation', isArray: true })
  @Optional() @IsArray() @ArrayMinSize(1) @ArrayMaxSize(HOOK_OPERATIONS.length) @ArrayUnique()
  @IsIn(HOOK_OPERATIONS, { each: true, message: oneOf('each of operations', HOOK_OPERATIONS) })
  operations?: HookOperation[];

  /** Ownership does not move: refused rather than ignored. */
  @ApiHideProperty()
  @Optional() @Equals(undefined, { message: 'organization_id cannot be changed; register a hook in the other organization instead' })
  organization_id?: never;
}

export const assertHookChanges = (dto: UpdateHookDto): UpdateHookDto =>
  assertSomeOf(['name', 'url', 'secret', 'operations', 'phase', 'timeout_ms', 'failure_policy', 'ssl_verification', 'enabled'], dto);

class PageQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: OFFSET_MAX, default: 0 })
  @Optional() @Type(() => Number) @IsInt({ message: 'offset must be an integer' }) @Min(0) @Max(OFFSET_MAX)
  offset?: number;
}

/** `GET /api/hooks`. */
export class ListHooksQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ maxLength: MAX_ID })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  organization_id?: string;

  @ApiPropertyOptional({ enum: HookOperation, enumName: 'HookOperation', description: 'Hooks registered for this operation.' })
  @Optional() @IsIn(HOOK_OPERATIONS, { message: oneOf('operation', HOOK_OPERATIONS) })
  operation?: HookOperation;

  @ApiPropertyOptional({ type: Boolean })
  @Optional() @QueryBoolean() @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: LIMIT_MAX, default: HOOKS_LIMIT_DEFAULT })
  @Optional() @Type(() => Number) @IsInt({ message: 'limit must be an integer' }) @Min(1) @Max(LIMIT_MAX)
  limit?: number;

  @ApiPropertyOptional({ maxLength: MAX_ID, description: 'Keyset cursor: the id of the last hook of the previous page (not with `offset`); the page holds the older ones and `total` counts them.' })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  before?: string;
}

/** `GET /api/hooks/decisions`. */
export class ListDecisionsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: HookOperation, enumName: 'HookOperation' })
  @Optional() @IsIn(HOOK_OPERATIONS, { message: oneOf('operation', HOOK_OPERATIONS) })
  operation?: HookOperation;

  @ApiPropertyOptional({ maxLength: MAX_ID })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  hook_id?: string;

  @ApiPropertyOptional({ maxLength: MAX_ID, description: 'The organization the operation was for.' })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  organization_id?: string;

  @ApiPropertyOptional({ enum: HookDecisionOutcome, enumName: 'HookDecisionOutcome' })
  @Optional() @IsIn(Object.values(HookDecisionOutcome), { message: oneOf('outcome', Object.values(HookDecisionOutcome)) })
  outcome?: HookDecisionOutcome;

  @ApiPropertyOptional({ format: 'date-time' })
  @Optional() @IsString() @IsISO8601({ strict: true }, { message: 'since must be an ISO 8601 date-time' })
  since?: string;

  @ApiPropertyOptional({ format: 'date-time' })
  @Optional() @IsString() @IsISO8601({ strict: true }, { message: 'until must be an ISO 8601 date-time' })
  until?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: LIMIT_MAX, default: DECISIONS_LIMIT_DEFAULT })
  @Optional() @Type(() => Number) @IsInt({ message: 'limit must be an integer' }) @Min(1) @Max(LIMIT_MAX)
  limit?: number;

  @ApiPropertyOptional({ type: Boolean, description: 'true: only decisions made by a failure policy (the hook gave no valid answer: timeout, error status, malformed answer); false: only answered ones.' })
  @Optional() @QueryBoolean() @IsBoolean({ message: 'policy_applied must be true or false' })
  policy_applied?: boolean;

  @ApiPropertyOptional({ maxLength: MAX_ID, description: 'Keyset cursor: the id of the last decision of the previous page (or `next_before`; not with `offset`); the page holds the older ones and `total` counts them.' })
  @Optional() @IsString() @Length(1, MAX_ID) @Validate(Printable)
  before?: string;
}

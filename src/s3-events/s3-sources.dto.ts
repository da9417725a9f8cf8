import { ApiExtraModels, ApiHideProperty, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { plainToInstance, Transform, Type } from 'class-transformer';
import {
  Allow,
  ArrayMaxSize,
  ArrayMinSize,
  Equals,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsString,
  Length,
  Max,
  Min,
  Validate,
  ValidateNested,
  ValidationArguments,
  ValidatorConstraint,
  ValidatorConstraintInterface,
} from 'class-validator';
import { DomainError, ErrorCode } from '../common/domain-error';
import { Printable } from '../common/printable';
import type { S3Action, S3Endpoint } from './s3-action.types';
import type { S3EventSource } from './s3-event-source.entity';
import { Nullable, Optional } from '../common/optional-fields';

/** Where the path token goes in `public_url`: replaced by the token of the request being answered. */
export const TOKEN_PLACEHOLDER = '{token}';
export const MAX_ACTIONS = 10;
export const MAX_BUCKETS = 100;
const MAX_ARGS = 64;
const MAX_ARG = 4096;
const MAX_URL = 2048;
const MAX_KEY = 1024;
const MIN_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 3_600_000;
const BUCKET_NAME = /^[A-Za-z0-9._-]{1,255}$/;

/** A string of 1 to `max` characters without control characters; one message whichever check fails. */
function Text(max: number): PropertyDecorator {
  const message = ({ property }: ValidationArguments): string => `${property} must be a string of 1 to ${max} characters`;
  return (target, key) => {
    IsString({ message })(target, key);
    Length(1, max, { message })(target, key);
    Validate(Printable)(target, key);
  };
}

function Timeout(): PropertyDecorator {
  const message = `timeout_ms must be an integer from ${MIN_TIMEOUT_MS} to ${MAX_TIMEOUT_MS}`;
  return (target, key) => {
    Optional()(target, key);
    IsInt({ message })(target, key);
    Min(MIN_TIMEOUT_MS, { message })(target, key);
    Max(MAX_TIMEOUT_MS, { message })(target, key);
  };
}

/** `@Validate(HttpUrl)`: an absolute http or https URL, `{token}` allowed anywhere (other types are left to `Text`). */
@ValidatorConstraint({ name: 'httpUrl' })
export class HttpUrl implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return true;
    try {
      const url = new URL(value.split(TOKEN_PLACEHOLDER).join('x'));
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }

  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be an absolute http or https URL`;
  }
}

/** `@Validate(BucketNames)`: every element a bucket name; the message names the first that is not. */
@ValidatorConstraint({ name: 'bucketNames' })
export class BucketNames implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return !Array.isArray(value) || value.every((b) => typeof b === 'string' && BUCKET_NAME.test(b));
  }

  defaultMessage(args: ValidationArguments): string {
    const at = (args.value as unknown[]).findIndex((b) => typeof b !== 'string' || !BUCKET_NAME.test(b));
    return `${args.property}.${at} must be a bucket name (letters, digits, . _ -)`;
  }
}

/** Where an S3-compatible bucket lives and how to sign requests to it. */
export class S3EndpointDto {
  @ApiProperty({ minLength: 1, maxLength: MAX_URL, example: 'https://storage.example.com', description: 'http(s); public addresses only unless S3_EVENTS_ALLOWED_PRIVATE lists it.' })
  @Text(MAX_URL) @Validate(HttpUrl)
  endpoint!: string;

  @ApiProperty({ minLength: 1, maxLength: 64, example: 'ru-msk' })
  @Text(64)
  region!: string;

  @ApiProperty({ minLength: 1, maxLength: MAX_KEY })
  @Text(MAX_KEY)
  access_key_id!: string;

  @ApiProperty({ minLength: 1, maxLength: MAX_KEY, description: 'Stored, never shown.' })
  @Text(MAX_KEY)
  secret_access_key!: string;

  @ApiPropertyOptional({ default: false })
  @Optional() @IsBoolean()
  force_path_style?: boolean;
}

/** Runs `<command...> <bucket> <key> <copy|delete>` (argv, no shell). */
export class S3CommandActionDto {
  @ApiProperty({ enum: ['command'] })
  @IsIn(['command'])
  type!: 'command';

  @ApiProperty({
    type: String,
    isArray: true,
    minItems: 1,
    maxItems: MAX_ARGS,
    example: ['/usr/local/bin/backup.sh'],
    description: 'argv, no shell; the executable (the first) must be listed in S3_EVENTS_ALLOWED_COMMANDS.',
  })
  @IsArray({ message: `command must be an array of 1 to ${MAX_ARGS} strings (argv, no shell)` })
  @ArrayMinSize(1, { message: `command must be an array of 1 to ${MAX_ARGS} strings (argv, no shell)` })
  @ArrayMaxSize(MAX_ARGS, { message: `command must be an array of 1 to ${MAX_ARGS} strings (argv, no shell)` })
  @IsString({ each: true, message: `command must hold strings of 1 to ${MAX_ARG} characters` })
  @Length(1, MAX_ARG, { each: true, message: `command must hold strings of 1 to ${MAX_ARG} characters` })
  @Validate(Printable, { each: true })
  command!: string[];

  @ApiPropertyOptional({ type: 'integer', minimum: MIN_TIMEOUT_MS, maximum: MAX_TIMEOUT_MS })
  @Timeout()
  timeout_ms?: number;
}

/**
 * Mirrors the object into `bucket` at the endpoint: created => copied, removed => deleted. Without
 * `source`, a server-side copy on the target endpoint; with it, read from there and written here.
 */
export class S3ReplicateActionDto extends S3EndpointDto {
  @ApiProperty({ enum: ['replicate'] })
  @IsIn(['replicate'])
  type!: 'replicate';

  @ApiProperty({ minLength: 1, maxLength: 255, example: 'backup' })
  @Text(255)
  bucket!: string;

  @ApiPropertyOptional({ type: () => S3EndpointDto, description: 'Absent: a server-side copy on the target endpoint.' })
  @Optional() @IsObject({ message: 'source must be an object' }) @ValidateNested({ message: 'source must be an object' }) @Type(() => S3EndpointDto)
  source?: S3EndpointDto;

  @ApiPropertyOptional({ type: 'integer', minimum: MIN_TIMEOUT_MS, maximum: MAX_TIMEOUT_MS })
  @Timeout()
  timeout_ms?: number;
}

/**
 * What an action of neither type becomes: only its `type` is refused. Its other fields are allowed
 * here (not in the two real classes) so that the one message is about the type, not about every
 * field the unknown type happened to carry.
 */
class S3UnknownActionDto {
  @IsIn(['command', 'replicate'], { message: 'type must be "command" or "replicate"' })
  type!: unknown;

  @Allow() command?: unknown;
  @Allow() timeout_ms?: unknown;
  @Allow() endpoint?: unknown;
  @Allow() region?: unknown;
  @Allow() access_key_id?: unknown;
  @Allow() secret_access_key?: unknown;
  @Allow() force_path_style?: unknown;
  @Allow() bucket?: unknown;
  @Allow() source?: unknown;
}

export type S3ActionDto = S3CommandActionDto | S3ReplicateActionDto;

const ACTION_CLASSES: Record<string, new () => object> = { command: S3CommandActionDto, replicate: S3ReplicateActionDto };

/**
 * Each action becomes the class its `type` names (any other type: {@link S3UnknownActionDto}), for
 * `@ValidateNested`. Not class-transformer's `@Type` discriminator: it tells arrays with
 * `instanceof Array`, which fails for a body built in another realm (Jest's sandbox), and it
 * throws on a `null` element. Anything but an object is left for the checks to refuse.
 */
const ActionClasses = (): PropertyDecorator =>
  Transform(({ obj, key }: { obj: Record<string, unknown>; key: string }) => {
    const list = obj[key];
    if (!Array.isArray(list)) return list;
    return list.map((item: unknown) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
      const type = (item as { type?: unknown }).type;
      const target = typeof type === 'string' && Object.hasOwn(ACTION_CLASSES, type) ? ACTION_CLASSES[type] : S3UnknownActionDto;
      return plainToInstance(target, item);
    });
  });

const ACTIONS_MESSAGE = `actions must be an array of at most ${MAX_ACTIONS} actions`;

/** The fields create and update share. */
@ApiExtraModels(S3CommandActionDto, S3ReplicateActionDto)
class SourceFieldsDto {
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: MAX_URL,
    example: 'https://gateway.example.com/s3-events/{token}',
    description: 'The address the bucket posts to, as the signature covers it; `{token}` stands for the path token. null clears it (PATCH).',
  })
  @Nullable() @Text(MAX_URL) @Validate(HttpUrl)
  public_url?: string | null;

  @ApiPropertyOptional({
    type: 'array',
    items: {
      oneOf: [{ $ref: getSchemaPath(S3CommandActionDto) }, { $ref: getSchemaPath(S3ReplicateActionDto) }],
      discriminator: { propertyName: 'type', mapping: { command: getSchemaPath(S3CommandActionDto), replicate: getSchemaPath(S3ReplicateActionDto) } },
    },
    maxItems: MAX_ACTIONS,
    description: 'Run in order for each object event. PATCH replaces the whole list (secret keys included).',
  })
  @Optional()
  @IsArray({ message: ACTIONS_MESSAGE })
  @ArrayMaxSize(MAX_ACTIONS, { message: ACTIONS_MESSAGE })
  @ValidateNested({ each: true, message: 'an action must be an object' })
  @ActionClasses()
  actions?: S3ActionDto[];

  @ApiPropertyOptional({ default: true })
  @Optional() @IsBoolean()
  enabled?: boolean;
}

const BUCKETS_MESSAGE = `allowed_buckets must be an array of 1 to ${MAX_BUCKETS} bucket names`;

/** `POST /api/s3-events/sources`. */
export class CreateSourceDto extends SourceFieldsDto {
  @ApiProperty({ minLength: 1, maxLength: 255, example: 'bucket events' })
  @Text(255)
  name!: string;

  @ApiProperty({ type: String, isArray: true, minItems: 1, maxItems: MAX_BUCKETS, example: ['bucketA'], description: 'The buckets whose events it takes (duplicates are dropped).' })
  @IsArray({ message: BUCKETS_MESSAGE }) @ArrayMinSize(1, { message: BUCKETS_MESSAGE }) @ArrayMaxSize(MAX_BUCKETS, { message: BUCKETS_MESSAGE }) @Validate(BucketNames)
  allowed_buckets!: string[];

  @ApiPropertyOptional({ maxLength: 36, description: "The owner (the caller's organization or one below it); the caller's when absent." })
  @Optional() @Text(36)
  organization_id?: string;
}

/** `PATCH /api/s3-events/sources/:id`: any field of create but `organization_id`, at least one. */
export class UpdateSourceDto extends SourceFieldsDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 255 })
  @Optional() @Text(255)
  name?: string;

  @ApiPropertyOptional({ type: String, isArray: true, minItems: 1, maxItems: MAX_BUCKETS, description: 'Replaces the list (duplicates are dropped).' })
  @Optional() @IsArray({ message: BUCKETS_MESSAGE }) @ArrayMinSize(1, { message: BUCKETS_MESSAGE }) @ArrayMaxSize(MAX_BUCKETS, { message: BUCKETS_MESSAGE }) @Validate(BucketNames)
  allowed_buckets?: string[];

  /** Ownership does not move: refused rather than ignored. */
  @ApiHideProperty()
  @Optional() @Equals(undefined, { message: 'organization_id cannot change' })
  organization_id?: never;
}

const UPDATE_FIELDS = ['name', 'public_url', 'allowed_buckets', 'actions', 'enabled'] as const;

/** A PATCH must change something: no body, or one without any known field, is a 400. */
export function assertSourceChanges(dto: UpdateSourceDto | undefined): UpdateSourceDto {
  if (!dto || !UPDATE_FIELDS.some((field) => dto[field] !== undefined)) {
    throw new DomainError(ErrorCode.ValidationFailed, `Invalid request: give at least one of ${UPDATE_FIELDS.join(', ')}.`);
  }
  return dto;
}

/** A source's own fields as stored: defaults filled in, buckets deduplicated, actions as plain objects. */
export type SourceInput = Pick<S3EventSource, 'name' | 'publicUrl' | 'allowedBuckets' | 'actions' | 'enabled'>;

/** Fields of a PATCH, in the stored form. */
export type SourceChanges = Partial<SourceInput>;

const endpointOf = (e: S3EndpointDto): S3Endpoint => ({
  endpoint: e.endpoint,
  region: e.region,
  access_key_id: e.access_key_id,
  secret_access_key: e.secret_access_key,
  force_path_style: e.force_path_style ?? false,
});

/** Plain objects in the stored key order (the answers show them in it). */
function actionOf(a: S3ActionDto): S3Action {
  const timeout = a.timeout_ms === undefined ? {} : { timeout_ms: a.timeout_ms };
  if (a.type === 'command') return { type: 'command', command: [...a.command], ...timeout };
  return { type: 'replicate', ...endpointOf(a), bucket: a.bucket, ...(a.source ? { source: endpointOf(a.source) } : {}), ...timeout };
}

export function sourceInputOf(dto: CreateSourceDto): SourceInput {
  return {
    name: dto.name,
    publicUrl: dto.public_url ?? null,
    allowedBuckets: [...new Set(dto.allowed_buckets)],
    actions: (dto.actions ?? []).map(actionOf),
    enabled: dto.enabled ?? true,
  };
}

export function sourceChangesOf(dto: UpdateSourceDto): SourceChanges {
  const changes: SourceChanges = {};
  if (dto.name !== undefined) changes.name = dto.name;
  if (dto.public_url !== undefined) changes.publicUrl = dto.public_url;
  if (dto.allowed_buckets !== undefined) changes.allowedBuckets = [...new Set(dto.allowed_buckets)];
  if (dto.actions !== undefined) changes.actions = dto.actions.map(actionOf);
  if (dto.enabled !== undefined) changes.enabled = dto.enabled;
  return changes;
}

/** The endpoints of replicate actions, for the address policy. */
export function endpointsOf(list: S3Action[]): Array<{ url: string; at: string }> {
  return list.flatMap((a, i) =>
    a.type === 'replicate'
      ? [{ url: a.endpoint, at: `actions.${i}.endpoint` }, ...(a.source ? [{ url: a.source.endpoint, at: `actions.${i}.source.endpoint` }] : [])]
      : [],
  );
}

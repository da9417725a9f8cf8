import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath, IntersectionType, PickType } from '@nestjs/swagger';
import { S3InboxState } from './s3-inbox-record.entity';
import { CountedPageOf, ListOf, OwnedView } from '../common/common.views';

/*
 * The S3 events API's answers (sources, confirmations, inbox, and the intake's own answers): the
 * types the services build and the OpenAPI schemas in one. snake_case, timestamps ISO 8601 UTC.
 * Secret access keys and path tokens are never shown, but a token in the answers of create and
 * rotate-token.
 */

/** Where the object is read from when it is not the target's own storage; never its secret key. */
export class S3EndpointView {
  @ApiProperty({ example: 'https://storage.example.com' })
  endpoint!: string;

  @ApiProperty({ example: 'ru-msk' })
  region!: string;

  @ApiProperty()
  access_key_id!: string;

  @ApiProperty()
  force_path_style!: boolean;

  @ApiProperty({ description: 'Always true: the key is stored, never shown.' })
  has_secret_access_key!: boolean;
}

/** Runs `<command...> <bucket> <key> <copy|delete>` (argv, no shell). */
export class S3CommandActionView {
  @ApiProperty({ enum: ['command'] })
  type!: 'command';

  @ApiProperty({ type: String, isArray: true, example: ['/usr/local/bin/backup.sh'] })
  command!: string[];

  @ApiPropertyOptional()
  timeout_ms?: number;
}

/** The discriminator of {@link S3ReplicateActionView}, declared apart so that it stays the first property. */
class S3ReplicateType {
  @ApiProperty({ enum: ['replicate'] })
  type!: 'replicate';
}

/** Mirrors the object into `bucket` at the endpoint: created => copied, removed => deleted. */
export class S3ReplicateActionView extends IntersectionType(S3ReplicateType, PickType(S3EndpointView, ['endpoint', 'region', 'access_key_id', 'force_path_style'] as const)) {
  @ApiProperty({ example: 'backup' })
  bucket!: string;

  @ApiPropertyOptional()
  timeout_ms?: number;

  @ApiProperty({ description: 'Always true: the key is stored, never shown.' })
  has_secret_access_key!: boolean;

  @ApiPropertyOptional({ type: () => S3EndpointView, description: 'Absent: a server-side copy on the target endpoint.' })
  source?: S3EndpointView;
}

export type S3ActionView = S3CommandActionView | S3ReplicateActionView;

@ApiExtraModels(S3CommandActionView, S3ReplicateActionView)
export class SourceView extends OwnedView {
  @ApiProperty()
  name!: string;

  @ApiProperty({ type: String, nullable: true, description: 'As configured; a literal token in it is shown as `{token}`.' })
  public_url!: string | null;

  @ApiProperty({ type: String, isArray: true, description: 'The buckets whose events it takes.' })
  allowed_buckets!: string[];

  @ApiProperty({
    type: 'array',
    items: { oneOf: [{ $ref: getSchemaPath(S3CommandActionView) }, { $ref: getSchemaPath(S3ReplicateActionView) }] },
    description: 'Run in order for each object event.',
  })
  actions!: S3ActionView[];

  @ApiProperty()
  enabled!: boolean;

  @ApiProperty({ type: String, nullable: true })
  created_by!: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ format: 'date-time' })
  updated_at!: string;
}

/** The answers of create and rotate-token: the only ones with the token and the path it opens. */
export class SourceWithTokenView extends SourceView {
  @ApiProperty({ description: '43 characters of base64url: the intake path\'s only credential.' })
  token!: string;

  @ApiProperty({ example: '/s3-events/{token}' })
  intake_path!: string;
}

export class SourcePage extends CountedPageOf(SourceView) {}

/** A SubscriptionConfirmation the intake answered (never its Token). */
export class ConfirmationView {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ format: 'uuid' })
  source_id!: string;

  @ApiProperty()
  bucket!: string;

  @ApiProperty()
  topic_arn!: string;

  @ApiProperty({ description: "The message's Timestamp, as the bucket sent it." })
  message_timestamp!: string;

  @ApiProperty({ format: 'date-time' })
  confirmed_at!: string;
}

export class ConfirmationList extends ListOf(ConfirmationView, 'Newest first.') {}

/** One run of one action for one record. */
export class ActionAttemptView {
  @ApiProperty({ description: "The action's place in the source's list, from 0." })
  action_index!: number;

  @ApiProperty({ example: 'command' })
  action_type!: string;

  @ApiProperty()
  attempt!: number;

  @ApiProperty({ example: 'copy' })
  operation!: string;

  @ApiProperty({ format: 'date-time' })
  started_at!: string;

  @ApiProperty()
  duration_ms!: number;

  @ApiProperty()
  success!: boolean;

  @ApiProperty({ type: Number, nullable: true })
  exit_code!: number | null;

  @ApiProperty({ type: String, nullable: true })
  stdout!: string | null;

  @ApiProperty({ type: String, nullable: true })
  stderr!: string | null;

  @ApiProperty({ type: String, nullable: true })
  error!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'What a successful run did when it was not the plain operation.' })
  note!: string | null;
}

/** One object event as the bucket reported it, with what its source's actions did. */
export class InboxRecordView {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ format: 'uuid' })
  source_id!: string;

  @ApiProperty()
  organization_id!: string;

  @ApiProperty()
  bucket!: string;

  @ApiProperty({ description: 'The object key.' })
  key!: string;

  @ApiProperty({ example: 's3:ObjectCreated:Put' })
  event_name!: string;

  @ApiProperty({ type: String, nullable: true })
  etag!: string | null;

  @ApiProperty()
  sequencer!: string;

  @ApiProperty({ type: Number, nullable: true })
  size!: number | null;

  @ApiProperty({ enum: S3InboxState, enumName: 'S3InboxState' })
  state!: S3InboxState;

  @ApiProperty({ description: 'Claims of the record since it was stored (replays included).' })
  attempts!: number;

  @ApiProperty({ description: 'Whether its `s3.object.*` event was recorded (once per record).' })
  event_emitted!: boolean;

  @ApiProperty({ type: Number, isArray: true, description: 'The indexes of the actions done.' })
  actions_done!: number[];

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Null unless pending.' })
  next_attempt_at!: string | null;

  @ApiProperty({ type: String, nullable: true })
  last_error!: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ format: 'date-time' })
  updated_at!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  completed_at!: string | null;

  @ApiProperty({ type: () => ActionAttemptView, isArray: true })
  action_attempts!: ActionAttemptView[];
}

export class InboxPage extends CountedPageOf(InboxRecordView) {}

/** The intake's answer to a SubscriptionConfirmation. */
export class IntakeConfirmationAnswer {
  @ApiProperty({ description: "The signature over the source's configured URL, as the bucket expects it." })
  signature!: string;
}

/** The intake's answer to a Notification: its records stored, or known already. */
export class IntakeNotificationAnswer {
  @ApiProperty()
  stored!: number;

  @ApiProperty({ description: 'Records stored before (the same object event again).' })
  duplicates!: number;
}

export type IntakeAnswer = IntakeConfirmationAnswer | IntakeNotificationAnswer;

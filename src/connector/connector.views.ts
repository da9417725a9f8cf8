import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { AlertBody, WorkloadBody, WorkloadRemovalBody } from './acronis-api.types';
import { ConnectorItemKind, ConnectorItemSource, ConnectorItemState } from './connector-item.entity';
import { ConnectorRunStatus } from './connector-run.entity';
import { AlertDismissalDto, AlertDto, WorkloadDto, WorkloadRemovalDto } from './connector-intake.dto';
import { CursorPageOf, ListOf, OwnedView } from '../common/common.views';

/*
 * The connector API's answers (items and runs): the types the services build and the OpenAPI
 * schemas in one. snake_case, timestamps ISO 8601 UTC.
 */

/** One answer line of `POST /api/connector/items`, in the order of the request's items. */
export class IntakeResultItem {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty()
  idempotency_key!: string;

  @ApiProperty({ enum: ConnectorItemKind, enumName: 'ConnectorItemKind' })
  kind!: ConnectorItemKind;

  @ApiProperty({ enum: ConnectorItemState, enumName: 'ConnectorItemState' })
  state!: ConnectorItemState;

  @ApiProperty({ description: 'false: the key was already stored with the same body (a replay); nothing new was stored.' })
  created!: boolean;
}

export class IntakeResult extends ListOf(IntakeResultItem, "In the order of the request's items.") {}

export class ConnectorItemView extends OwnedView {
  @ApiProperty({ enum: ConnectorItemKind, enumName: 'ConnectorItemKind' })
  kind!: ConnectorItemKind;

  @ApiProperty({ enum: ConnectorItemSource, enumName: 'ConnectorItemSource' })
  source!: ConnectorItemSource;

  @ApiProperty({ type: String, nullable: true })
  idempotency_key!: string | null;

  @ApiProperty({ enum: ConnectorItemState, enumName: 'ConnectorItemState' })
  state!: ConnectorItemState;

  @ApiProperty({ description: 'Pushes started.' })
  attempts!: number;

  @ApiProperty({ format: 'date-time', description: 'When it is due; for a sent or failed item, when that outcome was recorded.' })
  next_attempt_at!: string;

  @ApiProperty({ type: Number, nullable: true, description: "The Acronis API's last answer." })
  last_status!: number | null;

  @ApiProperty({ type: String, nullable: true })
  last_error!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Why a pending item is not being sent (e.g. its organization is not mapped).' })
  waiting_reason!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'What the Acronis API answered with (the alert id).' })
  remote_id!: string | null;

  @ApiProperty({ type: String, nullable: true })
  acronis_tenant_id!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The data center it was sent to (null: the default, ACRONIS_DC_URL).' })
  acronis_dc_url!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'For a sent alert: when it was dismissed.' })
  dismissed_at!: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ format: 'date-time' })
  updated_at!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  sent_at!: string | null;
}

/** One item with what was submitted, as it was posted, under its kind: exactly one of the four. */
export class ConnectorItemDetailView extends ConnectorItemView {
  @ApiPropertyOptional({ type: () => AlertDto })
  alert?: AlertBody;

  @ApiPropertyOptional({ type: () => WorkloadDto })
  workload?: WorkloadBody;

  @ApiPropertyOptional({ type: () => AlertDismissalDto })
  alert_dismissal?: AlertDismissalDto;

  @ApiPropertyOptional({ type: () => WorkloadRemovalDto })
  workload_removal?: WorkloadRemovalBody;
}

export class ConnectorItemPage extends CursorPageOf(ConnectorItemView) {}

/** A connector run: its counts and how long it took. */
export class ConnectorRunView {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ example: 'schedule', description: '`schedule`, `cli` or `api` (asked for by send-now).' })
  trigger!: string;

  @ApiProperty({ description: 'The replica that held the lease.' })
  holder!: string;

  @ApiProperty({ enum: ConnectorRunStatus, enumName: 'ConnectorRunStatus' })
  status!: ConnectorRunStatus;

  @ApiProperty({ format: 'date-time' })
  started_at!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finished_at!: string | null;

  @ApiProperty({ type: Number, nullable: true, description: 'Null while it runs.' })
  duration_ms!: number | null;

  @ApiProperty()
  sent!: number;

  @ApiProperty()
  failed!: number;

  @ApiProperty()
  skipped!: number;

  @ApiProperty({ type: String, nullable: true })
  error!: string | null;
}

export class ConnectorRunPage extends CursorPageOf(ConnectorRunView) {}

import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ConnectorItemKind, ConnectorItemSource, ConnectorItemState } from './connector-item.entity';
import { AlertDto, WorkloadDto } from './connector-intake.dto';

/*
 * Documentation-only classes: the OpenAPI shapes of the intake API's answers (the service builds
 * them as the interfaces `IntakeResultItem`, `ConnectorItemView`, …). Timestamps are ISO 8601 UTC.
 */

export class IntakeResultItemSchema {
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

export class IntakeResultSchema {
  @ApiProperty({ type: () => IntakeResultItemSchema, isArray: true, description: "In the order of the request's items." })
  items!: IntakeResultItemSchema[];
}

export class ConnectorItemSchema {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty()
  organization_id!: string;

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

  @ApiProperty({ format: 'date-time' })
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

/** One item with what was submitted, under its kind. */
export class ConnectorItemDetailSchema extends ConnectorItemSchema {
  @ApiPropertyOptional({ type: () => AlertDto })
  alert?: AlertDto;

  @ApiPropertyOptional({ type: () => WorkloadDto })
  workload?: WorkloadDto;
}

export class ConnectorItemPageSchema {
  @ApiProperty({ type: () => ConnectorItemSchema, isArray: true, description: 'Newest first.' })
  items!: ConnectorItemSchema[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `before` for the next page; null on the last page.' })
  next_before!: string | null;
}

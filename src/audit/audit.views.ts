import { ApiProperty } from '@nestjs/swagger';
import { AuditKind, AuditOutcome } from './audit-record.entity';
import { ListOf } from '../common/common.views';

/*
 * The audit API's answers: the types the query service builds and the OpenAPI schemas in one.
 * snake_case, timestamps ISO 8601 UTC.
 */

/** A record as the API shows it. */
export class AuditRecordView {
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

export class AuditPage extends ListOf(AuditRecordView, 'Newest first.') {
  @ApiProperty({ type: String, nullable: true, description: 'The `before` of the next (older) page; null on the last one.' })
  next_before!: string | null;
}

export class AuditChain {
  @ApiProperty({ type: () => AuditRecordView })
  record!: AuditRecordView;

  @ApiProperty({ type: () => AuditRecordView, isArray: true, description: 'What caused it: its cause, that one\'s cause, and so on, nearest first (those you can see).' })
  caused_by!: AuditRecordView[];

  @ApiProperty({ type: () => AuditRecordView, isArray: true, description: 'What it caused, and what that caused, oldest first (those you can see); `cause_id` makes the tree.' })
  caused!: AuditRecordView[];
}

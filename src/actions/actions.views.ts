import { ApiProperty } from '@nestjs/swagger';
import type { ActionResult } from './action-frames';
import { ActionState } from './action.entity';
import { CountedPageOf, ListOf, OwnedView } from '../common/common.views';

/*
 * The actions API's answers (the ledger, capabilities, applicabilities, handler credentials, and
 * the handlers' own REST reads): the types the services build and the OpenAPI schemas in one.
 * snake_case, timestamps ISO 8601 UTC.
 */

export class ActionView extends OwnedView {
  @ApiProperty({ format: 'uuid' })
  handler_id!: string;

  @ApiProperty({ example: 'ExecuteCommand', description: 'The capability name.' })
  capability!: string;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { Command: 'uptime' } })
  parameters!: Record<string, unknown>;

  @ApiProperty()
  timeout_ms!: number;

  @ApiProperty({ enum: ActionState, enumName: 'ActionState' })
  state!: ActionState;

  @ApiProperty({ description: 'How often it was written to a handler connection.' })
  send_count!: number;

  @ApiProperty({
    type: 'object',
    nullable: true,
    additionalProperties: true,
    example: { message: 'Action successful', code: 200, data: '...' },
    description: "The handler's result (`code`, `message`, maybe `data`), the same whether it came as a JSON string or as an object.",
  })
  result!: ActionResult | null;

  @ApiProperty({ type: Number, nullable: true })
  result_code!: number | null;

  @ApiProperty({ type: String, nullable: true })
  submitted_by!: string | null;

  @ApiProperty({ format: 'date-time' })
  submitted_at!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  sent_at!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  acked_at!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  completed_at!: string | null;

  @ApiProperty({ format: 'date-time' })
  expires_at!: string;
}

export class ActionPage extends CountedPageOf(ActionView) {}

export class CapabilityView extends OwnedView {
  @ApiProperty({ example: 'ExecuteCommand' })
  name!: string;

  @ApiProperty({ type: String, nullable: true })
  description!: string | null;

  @ApiProperty({ type: String, isArray: true })
  mandatory_parameters!: string[];

  @ApiProperty({ type: String, isArray: true })
  optional_parameters!: string[];

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ format: 'date-time' })
  updated_at!: string;
}

export class CapabilityList extends ListOf(CapabilityView) {}

/** A handler allowed to serve a capability, with the parameters it adds. */
export class ApplicabilityView extends OwnedView {
  @ApiProperty({ format: 'uuid' })
  handler_id!: string;

  @ApiProperty({ format: 'uuid' })
  capability_id!: string;

  @ApiProperty({ description: 'The capability name.' })
  capability!: string;

  @ApiProperty({ type: 'object', additionalProperties: true })
  parameters!: Record<string, unknown>;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;
}

export class ApplicabilityList extends ListOf(ApplicabilityView) {}

/** A handler credential: never the token, except in the answer that creates it. */
export class HandlerView extends OwnedView {
  @ApiProperty()
  name!: string;

  @ApiProperty({ type: String, nullable: true })
  created_by!: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  revoked_at!: string | null;

  @ApiProperty({ description: 'Whether it has a WebSocket connection to the replica that answers (other replicas are not asked).' })
  connected!: boolean;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When the channel last heard from it (connect, leave, each ping round while connected); null if never.' })
  last_seen_at!: string | null;
}

/** The answer of create: the only one that shows the token. */
export class HandlerWithTokenView extends HandlerView {
  @ApiProperty({ example: 'ahk_3q2-7wJx0m9vQeB8Zr1kYH5tL6uN4pD2sA0cF7gE9hI', description: 'Shown once; only its SHA-256 is stored.' })
  token!: string;
}

export class HandlerList extends ListOf(HandlerView, 'Newest first.') {}

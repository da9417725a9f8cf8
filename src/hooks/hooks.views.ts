import { ApiProperty } from '@nestjs/swagger';
import { HookDecisionOutcome, HookErrorClass, HookFailurePolicy, HookOperation, HookPhase } from './hook-operation';
import { CountedPageOf, ListOf, OwnedView } from '../common/common.views';

/*
 * The hooks API's answers: the types the services build and the OpenAPI schemas in one.
 * snake_case, timestamps ISO 8601 UTC. Post-hook deliveries are the webhooks' DeliveryView.
 */

/** A hook endpoint, never with its secret but in the answers of create and rotate-secret. */
export class HookView extends OwnedView {
  @ApiProperty()
  name!: string;

  @ApiProperty()
  url!: string;

  @ApiProperty({ enum: HookOperation, enumName: 'HookOperation', isArray: true })
  operations!: HookOperation[];

  @ApiProperty({ enum: HookPhase, enumName: 'HookPhase' })
  phase!: HookPhase;

  @ApiProperty({ description: 'Pre-hook timeout.' })
  timeout_ms!: number;

  @ApiProperty({ enum: HookFailurePolicy, enumName: 'HookFailurePolicy' })
  failure_policy!: HookFailurePolicy;

  @ApiProperty()
  ssl_verification!: boolean;

  @ApiProperty()
  enabled!: boolean;

  @ApiProperty({ type: String, nullable: true, description: 'Why the gateway disabled it (a post-hook answered 410 Gone); null when a user did.' })
  disabled_reason!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The user who registered it.' })
  created_by!: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ format: 'date-time' })
  updated_at!: string;

  @ApiProperty({ description: 'The secret itself is answered only by create and rotate-secret.' })
  has_secret!: boolean;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Until when the previous secret still signs (after a rotation).' })
  previous_secret_expires_at!: string | null;
}

/** The answers of create and rotate-secret. */
export class HookWithSecretView extends HookView {
  @ApiProperty({ example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })
  secret!: string;
}

export class HookPage extends CountedPageOf(HookView) {}

/** One pre-hook's answer (or failure) to one operation, and what the gateway made of it. */
export class DecisionView {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ format: 'uuid', description: 'Shared by the decisions of one operation\'s pre-hooks.' })
  call_id!: string;

  @ApiProperty({ enum: HookOperation, enumName: 'HookOperation' })
  operation!: HookOperation;

  @ApiProperty({ format: 'uuid', description: 'The hook (it may have been deleted since).' })
  hook_id!: string;

  @ApiProperty({ description: "The hook's owner." })
  hook_organization_id!: string;

  @ApiProperty({ description: 'The organization the operation was for.' })
  organization_id!: string;

  @ApiProperty({ description: 'The acting login.' })
  auth_id!: string;

  @ApiProperty({ enum: HookDecisionOutcome, enumName: 'HookDecisionOutcome' })
  outcome!: HookDecisionOutcome;

  @ApiProperty({ type: Boolean, nullable: true, description: "The answer's `approved`; null when there was no valid answer." })
  approved!: boolean | null;

  @ApiProperty({ type: String, nullable: true })
  work_id!: string | null;

  @ApiProperty({ type: String, nullable: true })
  reason!: string | null;

  @ApiProperty({ type: Number, nullable: true })
  status_code!: number | null;

  @ApiProperty({ enum: HookErrorClass, enumName: 'HookErrorClass', nullable: true })
  error_class!: HookErrorClass | null;

  @ApiProperty({ type: String, nullable: true })
  error!: string | null;

  @ApiProperty({ enum: HookFailurePolicy, enumName: 'HookFailurePolicy' })
  failure_policy!: HookFailurePolicy;

  @ApiProperty({ description: 'The outcome came from the failure policy, not from an answer.' })
  policy_applied!: boolean;

  @ApiProperty()
  latency_ms!: number;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;
}

export class DecisionPage extends ListOf(DecisionView, 'Newest first.') {
  // Optional in the type only: the console's pages skip the count; the API always counts.
  @ApiProperty({ description: 'How many match (with `before`: how many are older).' })
  total?: number;

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `before` for the next page; null on the last page.' })
  next_before!: string | null;
}

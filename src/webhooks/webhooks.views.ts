import { ApiProperty } from '@nestjs/swagger';
import { DeliveryErrorClass } from './webhook-delivery-attempt.entity';
import { DeliveryState } from './webhook-delivery.entity';
import { WebhookScope } from './webhook-subscription.entity';
import { WebhookFilterDto } from './webhooks.dto';
import { CountedPageOf, ListOf, OwnedView } from '../common/common.views';

/*
 * The webhooks API's answers: the types the services build and the OpenAPI schemas in one.
 * snake_case, timestamps ISO 8601 UTC.
 */

export class SubscriptionView extends OwnedView {
  @ApiProperty()
  name!: string;

  @ApiProperty({ type: String, nullable: true })
  description!: string | null;

  @ApiProperty()
  payload_url!: string;

  @ApiProperty()
  ssl_verification!: boolean;

  @ApiProperty()
  enabled!: boolean;

  @ApiProperty({ type: String, nullable: true, description: 'Why the gateway disabled it (a 410 from the receiver, or every attempt failing for WEBHOOKS_AUTO_DISABLE_AFTER_HOURS); null when a user did.' })
  disabled_reason!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it was disabled; null while enabled.' })
  disabled_at!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Every attempt has failed since then; null when the latest attempt succeeded (or none was made).' })
  failing_since!: string | null;

  @ApiProperty({ enum: WebhookScope, enumName: 'WebhookScope' })
  scope!: WebhookScope;

  @ApiProperty({ type: () => WebhookFilterDto, isArray: true })
  filters!: WebhookFilterDto[];

  @ApiProperty({ type: String, nullable: true, description: 'The user who created it.' })
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
export class SubscriptionWithSecretView extends SubscriptionView {
  @ApiProperty({ example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })
  secret!: string;
}

export class SubscriptionPage extends CountedPageOf(SubscriptionView) {}

export class TestDeliveryView {
  @ApiProperty({ description: 'Whether the receiver accepted it (2xx, or 200 with WEBHOOKS_SUCCESS_200_ONLY).' })
  success!: boolean;

  @ApiProperty({ type: Number, nullable: true })
  status!: number | null;

  @ApiProperty({ type: String, nullable: true, description: 'The first WEBHOOKS_RESPONSE_BODY_LIMIT bytes of the answer.' })
  response_body!: string | null;

  @ApiProperty({ enum: DeliveryErrorClass, enumName: 'DeliveryErrorClass', nullable: true })
  error_class!: DeliveryErrorClass | null;

  @ApiProperty({ type: String, nullable: true })
  error!: string | null;

  @ApiProperty()
  duration_ms!: number;
}

export class AttemptRequestView {
  @ApiProperty({ enum: ['POST'] })
  method!: 'POST';

  @ApiProperty({ description: 'The payload URL the attempt went to.' })
  url!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'Every header sent, lower-case, signatures included; the body is the delivery\'s `payload`.',
  })
  headers!: Record<string, string>;
}

export class AttemptView {
  @ApiProperty({ description: '1 for the first attempt.' })
  attempt!: number;

  @ApiProperty({ format: 'date-time' })
  started_at!: string;

  @ApiProperty()
  duration_ms!: number;

  @ApiProperty({ type: Number, nullable: true })
  status_code!: number | null;

  @ApiProperty({ type: String, nullable: true })
  response_body!: string | null;

  @ApiProperty({ enum: DeliveryErrorClass, enumName: 'DeliveryErrorClass', nullable: true })
  error_class!: DeliveryErrorClass | null;

  @ApiProperty({ type: String, nullable: true })
  error!: string | null;

  @ApiProperty()
  success!: boolean;

  @ApiProperty({ type: () => AttemptRequestView, nullable: true, description: 'The exact request sent; null for attempts recorded before requests were kept.' })
  request!: AttemptRequestView | null;
}

export class DeliveryView {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ format: 'uuid' })
  subscription_id!: string;

  @ApiProperty({ format: 'uuid', description: '`X-CS-Event-ID` and `webhook-id`: the same on every attempt and redelivery.' })
  event_id!: string;

  @ApiProperty({ example: 'user.created' })
  event_type!: string;

  @ApiProperty({ type: String, nullable: true })
  organization_id!: string | null;

  @ApiProperty({ description: 'The exact text every attempt sends and signs.' })
  payload!: string;

  @ApiProperty({ enum: DeliveryState, enumName: 'DeliveryState' })
  state!: DeliveryState;

  @ApiProperty({ description: 'Attempts started.' })
  attempt_count!: number;

  @ApiProperty({ format: 'date-time' })
  next_attempt_at!: string;

  @ApiProperty({ type: Number, nullable: true })
  last_status!: number | null;

  @ApiProperty({ type: String, nullable: true })
  last_error!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The delivery this one replays.' })
  redelivery_of!: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ format: 'date-time' })
  updated_at!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  completed_at!: string | null;

  @ApiProperty({ type: () => AttemptView, isArray: true, description: 'Oldest first.' })
  attempts!: AttemptView[];
}

export class DeliveryPage extends ListOf(DeliveryView, 'Newest first.') {
  @ApiProperty()
  total!: number;
}

export class DeletedCount {
  @ApiProperty()
  deleted!: number;
}


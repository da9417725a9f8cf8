import { CallbackRequest } from '../callbacks/callback-request.entity';
import { ConnectorItem } from '../connector/connector-item.entity';
import { ConnectorRun } from '../connector/connector-run.entity';
import { Lease } from './lease.entity';
import { DomainEvent } from '../events/event.entity';
import { Organization } from '../organizations/organization.entity';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import { User } from '../users/user.entity';
import { WebhookDeliveryAttempt } from '../webhooks/webhook-delivery-attempt.entity';
import { WebhookDelivery } from '../webhooks/webhook-delivery.entity';
import { WebhookSubscription } from '../webhooks/webhook-subscription.entity';

/** Every entity, listed once for the app's and the migration CLI's DataSource. */
export const ENTITIES = [Organization, User, OrganizationMapping, CallbackRequest, DomainEvent, ConnectorItem, ConnectorRun, Lease, WebhookSubscription, WebhookDelivery, WebhookDeliveryAttempt];

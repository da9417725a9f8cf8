import { ACTIONS_ENTITIES } from '../actions/actions.entities';
import { AuditRecord } from '../audit/audit-record.entity';
import { CallbackRequest } from '../callbacks/callback-request.entity';
import { ConsoleSession } from '../console/console-session.entity';
import { ConnectorItem } from '../connector/connector-item.entity';
import { ConnectorRun } from '../connector/connector-run.entity';
import { ConnectorWorkload } from '../connector/connector-workload.entity';
import { Lease } from './lease.entity';
import { HOOKS_ENTITIES } from '../hooks/hooks.entities';
import { DomainEvent } from '../events/event.entity';
import { MIRRORING_ENTITIES } from '../mirroring/mirroring.entities';
import { Organization } from '../organizations/organization.entity';
import { S3_EVENTS_ENTITIES } from '../s3-events/s3-events.entities';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import { User } from '../users/user.entity';
import { WebhookDeliveryAttempt } from '../webhooks/webhook-delivery-attempt.entity';
import { WebhookDelivery } from '../webhooks/webhook-delivery.entity';
import { WebhookSubscription } from '../webhooks/webhook-subscription.entity';

/** Every entity, listed once for the app's and the migration CLI's DataSource. */
export const ENTITIES = [Organization, User, OrganizationMapping, CallbackRequest, DomainEvent, ConnectorItem, ConnectorRun, ConnectorWorkload, Lease, WebhookSubscription, WebhookDelivery, WebhookDeliveryAttempt, ...HOOKS_ENTITIES, ...S3_EVENTS_ENTITIES, ...ACTIONS_ENTITIES, ...MIRRORING_ENTITIES, ConsoleSession, AuditRecord];

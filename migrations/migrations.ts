import { InitialSchema1732400000000 } from './1732400000000-InitialSchema';
import { ConnectorSchema1732500000000 } from './1732500000000-ConnectorSchema';
import { WebhooksSchema1732600000000 } from './1732600000000-WebhooksSchema';
import { WebhookDeliveriesSubscriptionDueIndex1732650000000 } from './1732650000000-WebhookDeliveriesSubscriptionDueIndex';
import { HooksSchema1732700000000 } from './1732700000000-HooksSchema';
import { S3EventsSchema1732800000000 } from './1732800000000-S3EventsSchema';
import { ActionsSchema1732900000000 } from './1732900000000-ActionsSchema';
import { WebhookDeliveriesPartialIndexes1733000000000 } from './1733000000000-WebhookDeliveriesPartialIndexes';
import { MirroredEnablement1733100000000 } from './1733100000000-MirroredEnablement';
import { ConnectorSync1733200000000 } from './1733200000000-ConnectorSync';
import { ConsoleSessions1733300000000 } from './1733300000000-ConsoleSessions';
import { AuditTrail1733400000000 } from './1733400000000-AuditTrail';
import { WebhookEndpointHealth1733410000000 } from './1733410000000-WebhookEndpointHealth';
import { ConsoleHooksConnector1733420000000 } from './1733420000000-ConsoleHooksConnector';
import { ConsoleS3ActionsPages1733430000000 } from './1733430000000-ConsoleS3ActionsPages';
import { ConsoleOverviewIndexes1733440000000 } from './1733440000000-ConsoleOverviewIndexes';
import { EventOrganizationIds1733450000000 } from './1733450000000-EventOrganizationIds';
import { WebhookDeliveriesPendingOrder1733460000000 } from './1733460000000-WebhookDeliveriesPendingOrder';

/** Every migration in order; one set for SQLite and PostgreSQL. */
export const MIGRATIONS = [
  InitialSchema1732400000000,
  ConnectorSchema1732500000000,
  WebhooksSchema1732600000000,
  WebhookDeliveriesSubscriptionDueIndex1732650000000,
  HooksSchema1732700000000,
  S3EventsSchema1732800000000,
  ActionsSchema1732900000000,
  WebhookDeliveriesPartialIndexes1733000000000,
  MirroredEnablement1733100000000,
  ConnectorSync1733200000000,
  ConsoleSessions1733300000000,
  AuditTrail1733400000000,
  WebhookEndpointHealth1733410000000,
  ConsoleHooksConnector1733420000000,
  ConsoleS3ActionsPages1733430000000,
  ConsoleOverviewIndexes1733440000000,
  EventOrganizationIds1733450000000,
  WebhookDeliveriesPendingOrder1733460000000,
];

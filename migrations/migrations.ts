import { InitialSchema1732400000000 } from './1732400000000-InitialSchema';
import { ConnectorSchema1732500000000 } from './1732500000000-ConnectorSchema';
import { WebhooksSchema1732600000000 } from './1732600000000-WebhooksSchema';

/** Every migration in order; one set for SQLite and PostgreSQL. */
export const MIGRATIONS = [InitialSchema1732400000000, ConnectorSchema1732500000000, WebhooksSchema1732600000000];

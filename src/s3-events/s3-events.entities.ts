import { S3ActionAttempt } from './s3-action-attempt.entity';
import { S3EventSource } from './s3-event-source.entity';
import { S3InboxRecord } from './s3-inbox-record.entity';
import { S3SourceConfirmation } from './s3-source-confirmation.entity';

/** The entities of S3EventsModule, spread into the one entity list (src/database/entities.ts). */
export const S3_EVENTS_ENTITIES: Array<new () => object> = [S3EventSource, S3InboxRecord, S3ActionAttempt, S3SourceConfirmation];

/** The entities of S3EventsModule, spread into the one entity list (src/database/entities.ts). */
export const S3_EVENTS_ENTITIES: Array<new () => object> = [];

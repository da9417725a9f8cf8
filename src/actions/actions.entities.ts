/** The entities of ActionsModule, spread into the one entity list (src/database/entities.ts). */
export const ACTIONS_ENTITIES: Array<new () => object> = [];

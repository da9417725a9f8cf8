/** The entities of HooksModule, spread into the one entity list (src/database/entities.ts). */
export const HOOKS_ENTITIES: Array<new () => object> = [];

import { HookDecision } from './hook-decision.entity';
import { HookEndpoint } from './hook-endpoint.entity';

/** The entities of HooksModule, spread into the one entity list (src/database/entities.ts). */
export const HOOKS_ENTITIES: Array<new () => object> = [HookEndpoint, HookDecision];

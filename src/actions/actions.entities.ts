import { ActionApplicability } from './action-applicability.entity';
import { ActionCapability } from './action-capability.entity';
import { ActionHandler } from './action-handler.entity';
import { Action } from './action.entity';

/** The entities of ActionsModule, spread into the one entity list (src/database/entities.ts). */
export const ACTIONS_ENTITIES: Array<new () => object> = [ActionHandler, ActionCapability, ActionApplicability, Action];

import { MirroredCustomer } from './mirrored-customer.entity';
import { MirroredPartner } from './mirrored-partner.entity';

/** The entities of MirroringModule, spread into the one entity list (src/database/entities.ts). */
export const MIRRORING_ENTITIES: Array<new () => object> = [MirroredPartner, MirroredCustomer];

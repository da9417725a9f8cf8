import { Entity } from 'typeorm';
import { MirroredOrganization } from './mirrored-organization.entity';

/**
 * A partner organization enabled through `a.p.partner.mirroring.enable`: its state and what the
 * platform told about its Acronis tenant. The link the rest of the gateway uses is the
 * organization's `organizations_mapping` row; reset removes that and keeps this one, DISABLED.
 */
@Entity('mirrored_partners')
export class MirroredPartner extends MirroredOrganization {}

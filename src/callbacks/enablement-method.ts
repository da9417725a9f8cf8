/**
 * The enablement methods of the Acronis guide, as the callbacks they need: a CyberApp Version
 * combines one partner method with one customer method (Vendor Portal, General settings).
 * `ENABLEMENT_METHODS` chooses which the gateway serves; the custom `{APP_CODE}` callbacks belong
 * to none and are always served.
 */
export enum EnablementMethod {
  /** `a.p.enablement.read|write|reset`: the partner gives vendor credentials; its organization is mapped. */
  MappedPartner = 'mapped_partner',
  /** `a.p.topology.read`, `a.p.tenant_mapping.read|write`: the partner maps existing customers. */
  MappedCustomers = 'mapped_customers',
  /** `a.p.partner.mirroring.get_state|enable|reset`. */
  MirroredPartner = 'mirrored_partner',
  /** `a.p.customer.mirroring.get_state|set_state`: Acronis customers become vendor organizations. */
  MirroredCustomers = 'mirrored_customers',
}

export const ENABLEMENT_METHODS = Object.values(EnablementMethod);

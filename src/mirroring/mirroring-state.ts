/** A mirrored partner's or customer's enablement state, as `get_state` reports it. */
export enum MirroringState {
  Enabled = 'ENABLED',
  Disabled = 'DISABLED',
}

/** The Additional-settings fields of the CyberApp (Vendor Portal): field id → the value the user gave. */
export type MirroringSettings = Record<string, unknown>;

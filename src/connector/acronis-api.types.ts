/** What the connector sends and what a push came to, independent of the HTTP client. */

/** An alert as the vendor submits it (docs/protocols.md); `tenantID` is added at send time. */
export interface AlertBody {
  type: string;
  category: string;
  details: {
    title: string;
    category: string;
    description: string;
    fields?: Record<string, string>;
  };
  /** Optional link to a workload: both or neither. */
  ResourceID?: string;
  ResourceName?: string;
}

/** A workload as the vendor submits it; `client_id` and `tenant_id` are added at send time. */
export interface WorkloadBody {
  /**
   * The vendor's stable key of the device (sent in the CONNECTOR_WORKLOAD_KEY_ATTRIBUTE
   * attribute). Optional only for items stored before keys existed.
   */
  key?: string;
  type: string;
  name: string;
  attributes: Record<string, unknown>;
  allowed_actions: string[];
  enabled: boolean;
}

/** An `alert_dismissal` item: which alert item's alert to dismiss. */
export interface AlertDismissalBody {
  /** The alert item's idempotency key, as the vendor named it. */
  alert_key: string;
  /** The alert item's id, resolved when the dismissal was submitted. */
  alert_item_id: string;
}

/** A `workload_removal` item: the device whose workload to delete. */
export interface WorkloadRemovalBody {
  type: string;
  key: string;
}

/** What a connector item holds, by kind. */
export type ItemBody = AlertBody | WorkloadBody | AlertDismissalBody | WorkloadRemovalBody;

/** How a push ended, classified for the retry rules of issue 4 / docs/architecture.md, flow 4. */
export type PushOutcome =
  | { kind: 'sent'; status: number; remoteId: string | null }
  /** 429, 5xx, timeouts, connection errors, garbage answers: try again later. */
  | { kind: 'retry'; status: number | null; error: string; retryAfterMs: number | null }
  /** Any other 4xx (after one token refresh on 401): give up on this item. */
  | { kind: 'reject'; status: number; error: string };

/** A lookup's answer: the value, or why there is none yet (as a push would have failed). */
export type LookupOutcome<T> = { kind: 'ok'; value: T } | Exclude<PushOutcome, { kind: 'sent' }>;

/** A workload as the Workload Management API lists it (the fields the connector reads). */
export interface RemoteWorkload {
  id: string;
  type: string;
  name: string;
  attributes: Record<string, unknown>;
}

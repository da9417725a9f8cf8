/** The gateway operations approval hooks can be registered for (issue 7). */
export enum HookOperation {
  UserCreate = 'user.create',
  UserUpdate = 'user.update',
  UserDelete = 'user.delete',
  EnablementWrite = 'enablement.write',
  EnablementReset = 'enablement.reset',
  TenantMappingWrite = 'tenant_mapping.write',
  PartnerMirroringEnable = 'partner.mirroring.enable',
  PartnerMirroringReset = 'partner.mirroring.reset',
  CustomerMirroringSetState = 'customer.mirroring.set_state',
  WebhookCreate = 'webhook.create',
  WebhookUpdate = 'webhook.update',
  WebhookDelete = 'webhook.delete',
  WebhookRotateSecret = 'webhook.rotate_secret',
}

/** When an endpoint is called: before the operation (may veto), after it (informative, durable), or both. */
export enum HookPhase {
  Pre = 'pre',
  Post = 'post',
  Both = 'both',
}

/** What a pre-hook that cannot give a valid answer (timeout, connection error, malformed answer) decides. */
export enum HookFailurePolicy {
  /** Veto (the default). */
  FailClosed = 'fail-closed',
  /** Approve. */
  FailOpen = 'fail-open',
}

export enum HookDecisionOutcome {
  Approved = 'approved',
  Rejected = 'rejected',
}

/** How a post-hook reports the operation. */
export enum HookOutcome {
  Succeeded = 'succeeded',
  Failed = 'failed',
}

/**
 * Why a pre-hook gave no valid answer: the sender's classes (`dns`, `connect`, `tls`, `timeout`,
 * `blocked`, `http` for a non-2xx status) plus the ones of the answer itself.
 */
export enum HookErrorClass {
  Dns = 'dns',
  Connect = 'connect',
  Tls = 'tls',
  Timeout = 'timeout',
  Blocked = 'blocked',
  Http = 'http',
  /** A 3xx: redirects are not followed. */
  Redirect = 'redirect',
  /** The answer reached the response size limit. */
  TooLarge = 'too_large',
  /** Not JSON, not an object, or `approved` not a boolean (or `work_id`/`reason` not strings). */
  Malformed = 'malformed',
}

/** The event type of a hook call: `pre.<operation>` or `post.<operation>` (`X-CS-Event`). */
export const hookEventType = (phase: 'pre' | 'post', operation: string): string => `${phase}.${operation}`;

export const HOOK_OPERATIONS = Object.values(HookOperation);

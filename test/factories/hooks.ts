import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { HookEndpoint } from '../../src/hooks/hook-endpoint.entity';
import { HookFailurePolicy, HookOperation, HookPhase } from '../../src/hooks/hook-operation';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { WebhookKind, WebhookScope, WebhookSubscription } from '../../src/webhooks/webhook-subscription.entity';

export interface NewHook {
  organizationId: string;
  url: string;
  operations: HookOperation[];
  phase?: HookPhase;
  timeoutMs?: number;
  failurePolicy?: HookFailurePolicy;
  secret?: string;
  enabled?: boolean;
}

/** A hook endpoint inserted directly (bypassing the API's URL check: for addresses the API refuses). */
export async function createHook(ds: DataSource, input: NewHook): Promise<{ id: string; secret: string }> {
  const id = randomUUID();
  const secret = input.secret ?? generateSecret();
  const now = new Date();
  await ds.manager.insert(WebhookSubscription, {
    id,
    organizationId: input.organizationId,
    createdBy: null,
    name: 'approval hook',
    description: null,
    payloadUrl: input.url,
    secret,
    previousSecret: null,
    previousSecretExpiresAt: null,
    sslVerification: false,
    enabled: input.enabled ?? true,
    disabledReason: null,
    scope: WebhookScope.Local,
    filters: [],
    kind: WebhookKind.Hook,
    createdAt: now,
    updatedAt: now,
  });
  await ds.manager.insert(HookEndpoint, {
    id,
    operations: input.operations,
    phase: input.phase ?? HookPhase.Both,
    timeoutMs: input.timeoutMs ?? 3000,
    failurePolicy: input.failurePolicy ?? HookFailurePolicy.FailClosed,
    createdAt: now,
    updatedAt: now,
  });
  return { id, secret };
}

/** Removes every hook endpoint (with their deliveries) and the decisions log, between tests sharing one app. */
export async function clearHooks(ds: DataSource): Promise<void> {
  await ds.query(`DELETE FROM webhook_subscriptions WHERE kind = 'hook'`);
  await ds.query('DELETE FROM hook_decisions');
}

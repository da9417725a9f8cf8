import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { DeliveryErrorClass, WebhookDeliveryAttempt } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { DeliveryState, WebhookDelivery } from '../../src/webhooks/webhook-delivery.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { WebhookFilter, WebhookScope, WebhookSubscription } from '../../src/webhooks/webhook-subscription.entity';
import { snapshot } from '../setup/snapshot';

/** The webhook tables are part of {@link snapshot}; kept as a name the webhook specs read well with. */
export const webhookSnapshot = snapshot;

export interface NewSubscription {
  organizationId: string;
  id?: string;
  name?: string;
  payloadUrl?: string;
  secret?: string | null;
  previousSecret?: string | null;
  previousSecretExpiresAt?: Date | null;
  sslVerification?: boolean;
  enabled?: boolean;
  disabledReason?: string | null;
  scope?: WebhookScope;
  filters?: WebhookFilter[];
  createdBy?: string | null;
  createdAt?: Date;
}

/** A subscription inserted directly (the API has its own specs); http to a closed local port by default. */
export async function createSubscription(ds: DataSource, input: NewSubscription): Promise<WebhookSubscription> {
  const createdAt = input.createdAt ?? new Date();
  const row = Object.assign(new WebhookSubscription(), {
    id: input.id ?? randomUUID(),
    organizationId: input.organizationId,
    createdBy: input.createdBy ?? null,
    name: input.name ?? `hook-${randomUUID().slice(0, 8)}`,
    description: null,
    payloadUrl: input.payloadUrl ?? 'http://127.0.0.1:9/hook',
    secret: input.secret === undefined ? generateSecret() : input.secret,
    previousSecret: input.previousSecret ?? null,
    previousSecretExpiresAt: input.previousSecretExpiresAt ?? null,
    sslVerification: input.sslVerification ?? false,
    enabled: input.enabled ?? true,
    disabledReason: input.disabledReason ?? null,
    scope: input.scope ?? WebhookScope.Local,
    filters: input.filters ?? [],
    createdAt,
    updatedAt: createdAt,
  });
  await ds.manager.insert(WebhookSubscription, { ...row, filters: [...row.filters] });
  return row;
}

export interface NewDelivery {
  subscriptionId: string;
  id?: string;
  eventId?: string;
  eventType?: string;
  organizationId?: string | null;
  payload?: string;
  state?: DeliveryState;
  attempts?: number;
  createdAt?: Date;
  lastStatus?: number | null;
  lastError?: string | null;
  redeliveryOf?: string | null;
}

/** A delivery inserted directly, as the dispatcher and the worker would leave it. */
export async function createDelivery(ds: DataSource, input: NewDelivery): Promise<WebhookDelivery> {
  const createdAt = input.createdAt ?? new Date();
  const state = input.state ?? DeliveryState.Succeeded;
  const eventId = input.eventId ?? randomUUID();
  const eventType = input.eventType ?? 'user.created';
  const finished = state === DeliveryState.Succeeded || state === DeliveryState.Failed;
  const row = Object.assign(new WebhookDelivery(), {
    id: input.id ?? randomUUID(),
    subscriptionId: input.subscriptionId,
    eventId,
    eventType,
    organizationId: input.organizationId === undefined ? null : input.organizationId,
    // Deliberately not canonical JSON (spacing, key order): a redelivery must copy the bytes, not re-encode them.
    payload: input.payload ?? `{"type": "${eventType}",  "id":"${eventId}", "data": {"n": 1.50}}`,
    state,
    attempts: input.attempts ?? (state === DeliveryState.Pending ? 0 : 1),
    nextAttemptAt: createdAt,
    lockedUntil: state === DeliveryState.Delivering ? new Date(Date.now() + 60_000) : null,
    lastStatus: input.lastStatus ?? (state === DeliveryState.Succeeded ? 200 : state === DeliveryState.Failed ? 500 : null),
    lastError: input.lastError ?? (state === DeliveryState.Failed ? 'HTTP 500' : null),
    redeliveryOf: input.redeliveryOf ?? null,
    createdAt,
    updatedAt: createdAt,
    completedAt: finished ? createdAt : null,
  });
  await ds.manager.insert(WebhookDelivery, { ...row });
  return row;
}

export interface NewAttempt {
  deliveryId: string;
  attempt?: number;
  startedAt?: Date;
  statusCode?: number | null;
  success?: boolean;
  responseBody?: string | null;
  errorClass?: DeliveryErrorClass | null;
  error?: string | null;
  durationMs?: number;
}

export async function createAttempt(ds: DataSource, input: NewAttempt): Promise<WebhookDeliveryAttempt> {
  const success = input.success ?? true;
  const row = Object.assign(new WebhookDeliveryAttempt(), {
    id: randomUUID(),
    deliveryId: input.deliveryId,
    attempt: input.attempt ?? 1,
    startedAt: input.startedAt ?? new Date(),
    durationMs: input.durationMs ?? 12,
    statusCode: input.statusCode === undefined ? (success ? 200 : 500) : input.statusCode,
    responseBody: input.responseBody === undefined ? (success ? 'ok' : 'boom') : input.responseBody,
    errorClass: input.errorClass === undefined ? (success ? null : DeliveryErrorClass.Http) : input.errorClass,
    error: input.error === undefined ? (success ? null : 'HTTP 500') : input.error,
    success,
  });
  await ds.manager.insert(WebhookDeliveryAttempt, { ...row });
  return row;
}

/** `count` deliveries of one subscription, one second apart, the last one newest (`base` + count - 1 s). */
export async function createDeliveries(
  ds: DataSource,
  subscriptionId: string,
  count: number,
  base: Date,
  each: (index: number) => Partial<NewDelivery> = () => ({}),
): Promise<WebhookDelivery[]> {
  const out: WebhookDelivery[] = [];
  for (let i = 0; i < count; i++) {
    out.push(await createDelivery(ds, { subscriptionId, createdAt: new Date(base.getTime() + i * 1000), ...each(i) }));
  }
  return out;
}

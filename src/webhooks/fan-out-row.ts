import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import type { AuditEntry } from '../audit/audit.service';
import { newRowId } from '../common/ids';
import { DeliveryState } from './webhook-delivery.entity';

/** What the fan-out knows of the event it fans out. */
export interface FannedEvent {
  id: string;
  type: string;
  organization_id: string | null;
}

/**
 * One pending delivery made by the fan-out (a webhook's or a post-hook's): its row values, in the
 * dispatcher's insert column order, pushed onto `values`, and its audit record onto `made`.
 */
export function addDelivery(
  values: unknown[][],
  made: AuditEntry[],
  delivery: { event: FannedEvent; subscriptionId: string; ownerId: string; payload: string; now: Date; workId?: string | null; detail?: Record<string, unknown> },
): void {
  const { event, subscriptionId, ownerId, payload, now } = delivery;
  const id = newRowId();
  values.push([id, subscriptionId, event.id, event.type, event.organization_id, payload, DeliveryState.Pending, 0, now, now, now]);
  made.push({
    id,
    at: now,
    kind: AuditKind.Delivery,
    name: event.type,
    outcome: AuditOutcome.Ok,
    code: DeliveryState.Pending,
    organizationId: ownerId,
    eventId: event.id,
    deliveryId: id,
    workId: delivery.workId ?? null,
    causeId: event.id,
    detail: { subscription_id: subscriptionId, ...delivery.detail },
  });
}

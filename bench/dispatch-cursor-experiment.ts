/**
 * Experiment (PostgreSQL): what fanning out without the per-event `UPDATE events SET dispatched_at`
 * would save, for issue 18's "no per-event update at fan-out".
 *   BENCH_DB=postgres BENCH_SCENARIOS=b BENCH_GATEWAY_PRELOAD=bench/dispatch-cursor-experiment.ts npm run bench:webhooks
 * The dispatcher reads its batch after an in-memory cursor (created_at, id) instead of taking and
 * marking it: right for one gateway process that never restarts (the bench), not for replicas or
 * crashes, which is why src/ marks events. Patches the prototype at load time; src/ is not changed.
 */
import type { EntityManager } from 'typeorm';
import { pgAuditInsertOf, pgAuditParameters, type AuditEntry } from '../src/audit/audit.service';
import { WebhookDispatcher } from '../src/webhooks/webhook-dispatcher.service';
import { DeliveryState } from '../src/webhooks/webhook-delivery.entity';

interface EventRow {
  id: string;
  created_at: Date;
}
interface Internals {
  fanOut(em: EntityManager, rows: EventRow[], made: AuditEntry[], now: Date): Promise<unknown[][]>;
  eventRecords(rows: EventRow[], made: AuditEntry[]): AuditEntry[];
}

let cursor: { at: Date; id: string } = { at: new Date(), id: '' };

(WebhookDispatcher.prototype as unknown as { dispatchPostgres: (em: EntityManager) => Promise<{ events: number; deliveries: number }> }).dispatchPostgres = async function (
  this: Internals,
  em: EntityManager,
) {
  const now = new Date();
  const rows: EventRow[] = await em.query(
    `SELECT id, type, organization_id, organization_ids, data, created_at, cause_id FROM events
      WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT 500`,
    [cursor.at, cursor.id],
  );
  if (rows.length === 0) return { events: 0, deliveries: 0 };
  const last = rows[rows.length - 1];
  cursor = { at: last.created_at, id: last.id };
  const made: AuditEntry[] = [];
  const values = await this.fanOut(em, rows, made, now);
  const column = (c: number): unknown[] => values.map((row) => row[c]);
  const audit = [
    ...this.eventRecords(rows, made).map((entry) => ({ key: entry.id as string, entry })),
    ...made.map((entry) => ({ key: entry.deliveryId as string, entry })),
  ];
  await em.query(
    `WITH inserted AS (
       INSERT INTO webhook_deliveries
         (id, subscription_id, event_id, event_type, organization_id, payload, state, attempts, next_attempt_at, created_at, updated_at)
       SELECT v.id, v.subscription_id, v.event_id, v.event_type, v.organization_id, v.payload, $7, 0, $8, $8, $8
         FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], $6::text[])
           AS v(id, subscription_id, event_id, event_type, organization_id, payload)
       RETURNING id
     ), recorded AS (
       SELECT id FROM inserted UNION ALL SELECT unnest($9::varchar[])
     )
     ${pgAuditInsertOf('recorded', 10)}`,
    [column(0), column(1), column(2), column(3), column(4), column(5), DeliveryState.Pending, now, rows.map((r) => r.id), ...pgAuditParameters(audit)],
  );
  return { events: rows.length, deliveries: values.length };
};

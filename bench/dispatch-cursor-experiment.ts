/**
 * Experiment (PostgreSQL): what fanning out without the per-event `UPDATE events SET dispatched_at`
 * would save, for issue 18's "no per-event update at fan-out".
 *   BENCH_DB=postgres BENCH_SCENARIOS=b BENCH_GATEWAY_PRELOAD=bench/dispatch-cursor-experiment.ts npm run bench:webhooks
 * The dispatcher's own fan-out runs unchanged, except that the statement taking and marking its
 * batch is replaced by a read after an in-memory cursor (created_at, id): right for one gateway
 * process that never restarts (the bench), not for replicas or crashes, which is why src/ marks
 * events. Patches the prototype at load time; src/ is not changed.
 */
import type { EntityManager } from 'typeorm';
import { WebhookDispatcher } from '../src/webhooks/webhook-dispatcher.service';

type Dispatch = (this: unknown, em: EntityManager) => Promise<{ events: number; deliveries: number }>;
const prototype = WebhookDispatcher.prototype as unknown as { dispatchPostgres: Dispatch };
const dispatch = prototype.dispatchPostgres;
let cursor: { at: Date; id: string } = { at: new Date(), id: '' };

prototype.dispatchPostgres = function (this: unknown, em: EntityManager) {
  const query = async (sql: string, params?: unknown[]): Promise<unknown> => {
    if (!sql.includes('WITH batch AS MATERIALIZED')) return em.query(sql, params);
    const rows: Array<{ id: string; created_at: Date }> = await em.query(
      `SELECT id, type, organization_id, organization_ids, data, created_at, cause_id FROM events
        WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT 500`,
      [cursor.at, cursor.id],
    );
    if (rows.length > 0) cursor = { at: rows[rows.length - 1].created_at, id: rows[rows.length - 1].id };
    return rows;
  };
  return dispatch.call(this, new Proxy(em, { get: (target, key) => (key === 'query' ? query : Reflect.get(target, key)) }));
};

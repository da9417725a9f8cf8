import type { EntityManager } from 'typeorm';
import type { AuditEntry } from '../audit/audit.service';
import { fromDbDate } from '../database/raw-dates';
import { addDelivery } from './fan-out-row';
import { WebhookKind } from './webhook-subscription.entity';

/**
 * The data of a post-hook event (src/hooks records one per hooked operation, type
 * `post.<operation>`): the body every hook endpoint it names gets, each with fields of its own
 * (its pre-hook's `work_id`).
 */
export type PostHookData = {
  hooks: Array<{ id: string; fields: Record<string, unknown> }>;
  body: Record<string, unknown>;
};

/** Post-hook events go to the hook endpoints they name, and are never matched against webhook subscriptions. */
export const isPostHookEvent = (type: string): boolean => type.startsWith('post.');

/**
 * The dispatcher's fan-out of post-hook events: a delivery row (in the dispatcher's column order)
 * for each hook endpoint an event names that is still there and enabled, its audit record added to
 * `made`. Every endpoint of an event gets the same `webhook-id` (the event's id), as subscribers of
 * an event do; the body is `{id, ...body, ...fields, created_at}`.
 */
export async function postHookDeliveries(
  em: EntityManager,
  events: Array<{ id: string; type: string; organization_id: string | null; data: string; created_at: Date | string }>,
  now: Date,
  made: AuditEntry[],
): Promise<unknown[][]> {
  if (events.length === 0) return [];
  const parsed = events.map((e) => ({ event: e, data: JSON.parse(e.data) as PostHookData }));
  const ids = [...new Set(parsed.flatMap((p) => p.data.hooks.map((h) => h.id)))];
  if (ids.length === 0) return [];
  // PostgreSQL: FOR KEY SHARE holds the endpoints until the fan-out commits, so that a deletion
  // committing meanwhile cannot fail the insert's foreign key; one under way is waited for, and skipped.
  const lock = em.connection.options.type === 'postgres' ? ' FOR KEY SHARE' : '';
  const [sql, params] = em.connection.driver.escapeQueryWithParameters(
    `SELECT id, organization_id FROM webhook_subscriptions WHERE id IN (:...ids) AND kind = :kind AND enabled = TRUE${lock}`,
    { ids, kind: WebhookKind.Hook },
    {},
  );
  const live = new Map((await em.query<Array<{ id: string; organization_id: string }>>(sql, params)).map((r) => [r.id, r.organization_id]));
  const values: unknown[][] = [];
  for (const { event, data } of parsed) {
    const createdAt = fromDbDate(event.created_at).toISOString();
    for (const hook of data.hooks) {
      const owner = live.get(hook.id);
      if (owner === undefined) continue;
      const payload = JSON.stringify({ id: event.id, ...data.body, ...hook.fields, created_at: createdAt });
      const workId = typeof hook.fields.work_id === 'string' ? hook.fields.work_id : null;
      addDelivery(values, made, { event, subscriptionId: hook.id, ownerId: owner, payload, now, workId, detail: { post_hook: true } });
    }
  }
  return values;
}

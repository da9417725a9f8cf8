/**
 * The fake Acronis API (test/fakes/fake-acronis-api.ts) in a child process of the connector
 * bench, driven over IPC. Its own process so that the 10,000+ pushes it parses and records take
 * neither the gateway's CPU nor the baseline client's (which runs in the bench process).
 *
 * Messages from the parent: `{ cmd: 'reset', behaviour }` (forget every recorded request and set
 * the behaviour), `{ cmd: 'stats' }` (a {@link FakeStats} of what was recorded since the last
 * reset). Every command is answered with `{ ok: cmd, ... }` or `{ error }`. On start it sends
 * `{ url, clientId, clientSecret }`.
 */
import { markerOf } from '../test/factories/connector-items';
import { FakeAcronisApi, FakeBehaviour, RecordedPush, startFakeAcronisApi } from '../test/fakes/fake-acronis-api';

/** One push that the fake answered 2xx, i.e. one item created on the "platform". */
export type CreatedPush = [identity: string | null, tenant: string | null, endpoint: 'alerts' | 'workloads'];

/** What the fake saw since its last reset. */
export interface FakeStats {
  tokenRequests: number;
  pushes: number;
  alerts: number;
  workloads: number;
  /** status → pushes answered with it ("none" for no answer). */
  byStatus: Record<string, number>;
  /** Pushes that carried an `Idempotency-Key` header. */
  withIdempotencyKey: number;
  /** Epoch ms of the first and the last push received; null without pushes. */
  firstPushAt: number | null;
  lastPushAt: number | null;
  /** Epoch ms when the push that completed 50% / 99% of the 2xx pushes arrived; null without any. */
  created50At: number | null;
  created99At: number | null;
  /** Every 2xx push: its identity (the Idempotency-Key header, else the body's marker), tenant and endpoint. */
  created: CreatedPush[];
  /** Requests other than token requests and pushes, by operation (lookups, updates, deletes, dismissals). */
  otherRequests: Record<string, number>;
  /** What is on the platform: alerts (dismissed included), workloads, and workloads sharing a tenant and key attribute with another. */
  platform: { alerts: number; workloads: number; duplicateWorkloadKeys: number };
}

export type FakeCommand = { cmd: 'reset'; behaviour: Partial<Omit<FakeBehaviour, 'decide'>> } | { cmd: 'stats' };

function tenantOf(push: RecordedPush): string | null {
  const body = push.body as { tenantID?: unknown; items?: Array<{ tenant_id?: unknown }> } | undefined;
  const tenant = body?.tenantID ?? body?.items?.[0]?.tenant_id;
  return typeof tenant === 'string' ? tenant : null;
}

function identityOf(push: RecordedPush): string | null {
  const key = push.headers['idempotency-key'];
  if (typeof key === 'string' && key !== '') return `key:${key}`;
  const marker = markerOf(push.body);
  return marker === null ? null : `marker:${marker}`;
}

function platformCounts(api: FakeAcronisApi): FakeStats['platform'] {
  const workloads = api.store.workloads();
  const keys = new Set(workloads.map((w) => `${w.tenant_id}|${JSON.stringify(w.attributes.vendor_key ?? w.id)}`));
  return { alerts: api.store.alerts().length, workloads: workloads.length, duplicateWorkloadKeys: workloads.length - keys.size };
}

function stats(api: FakeAcronisApi): FakeStats {
  const pushes: Array<[RecordedPush, 'alerts' | 'workloads']> = [
    ...api.alerts.map((p): [RecordedPush, 'alerts'] => [p, 'alerts']),
    ...api.workloads.map((p): [RecordedPush, 'workloads'] => [p, 'workloads']),
  ];
  const byStatus: Record<string, number> = {};
  let withIdempotencyKey = 0;
  let firstPushAt: number | null = null;
  let lastPushAt: number | null = null;
  const created: CreatedPush[] = [];
  const createdTimes: number[] = [];
  for (const [push, endpoint] of pushes) {
    const status = push.status === null ? 'none' : String(push.status);
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    if (push.headers['idempotency-key'] !== undefined) withIdempotencyKey += 1;
    firstPushAt = firstPushAt === null ? push.receivedAt : Math.min(firstPushAt, push.receivedAt);
    lastPushAt = lastPushAt === null ? push.receivedAt : Math.max(lastPushAt, push.receivedAt);
    if (push.status !== null && push.status >= 200 && push.status < 300) {
      created.push([identityOf(push), tenantOf(push), endpoint]);
      createdTimes.push(push.receivedAt);
    }
  }
  createdTimes.sort((a, b) => a - b);
  const at = (share: number): number | null => (createdTimes.length ? createdTimes[Math.ceil(share * createdTimes.length) - 1] : null);
  return {
    tokenRequests: api.tokenRequests.length,
    pushes: pushes.length,
    alerts: api.alerts.length,
    workloads: api.workloads.length,
    byStatus,
    withIdempotencyKey,
    firstPushAt,
    lastPushAt,
    created50At: at(0.5),
    created99At: at(0.99),
    created,
    otherRequests: api.requests
      .filter((r) => r.operation !== 'token' && r.operation !== 'alert-push' && r.operation !== 'workload-push')
      .reduce<Record<string, number>>((counts, r) => ({ ...counts, [r.operation]: (counts[r.operation] ?? 0) + 1 }), {}),
    platform: platformCounts(api),
  };
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('fake-acronis-child must be started with an IPC channel');
  const api = await startFakeAcronisApi();
  const send = (message: unknown): void => void process.send?.(message);
  process.on('message', (message: FakeCommand) => {
    try {
      if (message.cmd === 'reset') {
        api.reset(message.behaviour);
        send({ ok: 'reset' });
      } else if (message.cmd === 'stats') {
        send({ ok: 'stats', stats: stats(api) });
      } else {
        send({ error: `unknown command ${JSON.stringify(message)}` });
      }
    } catch (error) {
      send({ error: error instanceof Error ? error.message : String(error) });
    }
  });
  const shutdown = (): void => void api.close().finally(() => process.exit(0));
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  // The parent died without stopping us: do not linger.
  process.once('disconnect', shutdown);
  send({ url: api.url, clientId: api.clientId, clientSecret: api.clientSecret });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

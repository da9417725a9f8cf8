/**
 * What the audit trail costs a callback, measured in one process as an A/B: the same app, the same
 * database, rounds alternating between the audit trail on and off (AuditService's two writes
 * replaced by no-ops), server and client CPU time per request (process.cpuUsage) over sequential
 * `inject()`ed callbacks. Alternating rounds in one process make the comparison hold on a busy
 * machine, where `npm run bench` (separate runs, wall-clock throughput) moves by more than the
 * difference sought. The figure includes the dispatcher's audit record of each write's event
 * (written in its batches while the round runs) and the group commit of read records.
 *
 *   npx ts-node -T bench/audit-cost.bench.ts                     # SQLite (a temp file; TMPDIR=/dev/shm: no disk)
 *   TEST_DB=postgres npx ts-node -T bench/audit-cost.bench.ts    # PostgreSQL (a fresh schema)
 *
 * Settings: AUDIT_BENCH_REQUESTS (500 per round), AUDIT_BENCH_ROUNDS (6 per mode).
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../src/audit/audit.service';
import { createTree, mapOrganization } from '../test/factories/organizations';
import { createTestApp } from '../test/setup/create-test-app';
import { cyberAppAuth, envelope } from '../test/setup/protocol';

const REQUESTS = Number(process.env.AUDIT_BENCH_REQUESTS ?? 500);
const ROUNDS = Number(process.env.AUDIT_BENCH_ROUNDS ?? 6);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const t = await createTestApp({ LOG_LEVEL: 'silent', NODE_ENV: 'production' });
  try {
    const tree = await createTree(t.dataSource);
    const tenant = (await mapOrganization(t.dataSource, tree.customers[0].id)).acronisTenantId;
    const auth = cyberAppAuth('partner', tree.password);
    const fastify = t.app.getHttpAdapter().getInstance();
    const audit = t.app.get(AuditService);
    const on = { record: audit.record.bind(audit), later: audit.later.bind(audit) };
    const setAudit = (enabled: boolean) => {
      audit.record = enabled ? on.record : () => Promise.resolve();
      audit.later = enabled ? on.later : () => undefined;
    };
    const scenarios = {
      users_read: () => JSON.stringify(envelope('users_read', {}, { tenantId: tenant })),
      'tenant_mapping.write': () => JSON.stringify(envelope('tenant_mapping.write', { modified: [{ vendor_tenant_id: tree.customers[1].id, acronis_tenant_id: randomUUID() }] })),
    };
    const send = async (body: string) => {
      const res = await fastify.inject({ method: 'POST', url: '/callback', headers: { 'content-type': 'application/json', 'x-cyberapp-auth': auth }, payload: body });
      if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body.slice(0, 200)}`);
    };
    for (const [name, body] of Object.entries(scenarios)) {
      for (let i = 0; i < 200; i++) await send(body()); // warm-up
      const perMode: Record<'on' | 'off', number[]> = { on: [], off: [] };
      for (let round = 0; round < ROUNDS * 2; round++) {
        const mode = round % 2 === 0 ? 'off' : 'on';
        setAudit(mode === 'on');
        await audit.flushNow();
        const start = process.cpuUsage();
        for (let i = 0; i < REQUESTS; i++) await send(body());
        await new Promise((resolve) => setTimeout(resolve, 50)); // the dispatcher's batch and the group commit of this round
        await audit.flushNow();
        const used = process.cpuUsage(start);
        perMode[mode].push((used.user + used.system) / REQUESTS);
      }
      setAudit(true);
      const off = median(perMode.off);
      const onCost = median(perMode.on);
      console.log(
        `${name}: CPU per request (server and in-process client), median of ${ROUNDS} rounds of ${REQUESTS}: ` +
          `audit off ${off.toFixed(0)} µs, on ${onCost.toFixed(0)} µs: +${(onCost - off).toFixed(0)} µs, ${((100 * (onCost - off)) / off).toFixed(1)}% ` +
          `(throughput ${((100 * off) / onCost - 100).toFixed(1)}%); rounds off [${perMode.off.map((x) => x.toFixed(0)).join(' ')}] on [${perMode.on.map((x) => x.toFixed(0)).join(' ')}]`,
      );
    }
    const [{ n }] = await t.dataSource.query('SELECT COUNT(*) AS n FROM audit_records');
    console.log(`audit records written: ${String(n)} (database: ${t.dataSource.options.type})`);
  } finally {
    await t.close();
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

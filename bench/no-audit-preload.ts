/**
 * The gateway without its audit trail, for the "before" figure of what the audit costs a callback:
 *   BENCH_GATEWAY_PRELOAD=bench/no-audit-preload.ts BENCH_SCENARIOS=c,e npm run bench
 * AuditService's two writes become no-ops and the callback audit hook registers nothing. Patches
 * prototypes at load time only; src/ is not changed. On PostgreSQL the dispatcher's and the delivery
 * worker's records are written by CTEs of their own statements and stay: there it removes the
 * callbacks' records only (what `npm run bench` measures).
 */
import { AuditService } from '../src/audit/audit.service';
import { CallbackAuditHook } from '../src/callbacks/callback-audit.hook';

AuditService.prototype.record = () => Promise.resolve();
AuditService.prototype.later = () => undefined;
CallbackAuditHook.prototype.onApplicationBootstrap = () => undefined;

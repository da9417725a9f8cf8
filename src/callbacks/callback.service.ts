import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomUUID } from 'node:crypto';
import { DataSource, EntityManager, LessThan, MoreThanOrEqual } from 'typeorm';
import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditService } from '../audit/audit.service';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { validateDto } from '../common/validate-dto';
import { callbacksConfig, CallbacksConfig } from '../config/callbacks.config';
import { connectorConfig, ConnectorConfig } from '../config/connector.config';
import { datacenterUrlProblem, normalizeDatacenterUrl } from '../connector/datacenter-policy';
import { isConcurrencyConflict } from '../database/unique-violation';
import { TransactionRunner } from '../database/transaction-runner.service';
import { OutboxBackpressure } from '../events/outbox-backpressure';
import { OutboxService } from '../events/outbox.service';
import { APPROVAL_GATE, ApprovalGate, approvalInput, WriteApproval } from './approval-gate';
import type { CallbackAudit } from './callback-audit.hook';
import { requestTypeName } from './callback-cti';
import { CallbackEnvelope, parseEnvelope } from './callback-envelope';
import type { CallbackResponse } from './callback-example';
import type { CallbackInvocation, CallbackResult } from './callback-handler.decorator';
import { CallbackRegistry, RegisteredCallback } from './callback-registry.service';
import { CallbackRequest } from './callback-request.entity';

const MAX_WRITE_ATTEMPTS = 5;

export type { CallbackResponse } from './callback-example';

/** A callback's invocation before the service adds its connection, its after-commit queue and its report. */
type InvocationBase = Omit<CallbackInvocation<unknown>, 'em' | 'afterCommit' | 'report'>;

/** Thrown inside a write's transaction when its hooks have not been asked yet: they are asked outside it, then it runs again. */
class ApprovalNeeded extends Error {}

/**
 * Validates the envelope, finds the handler, validates its payload and runs it: reads on the
 * default connection, writes in one transaction that also stores the response for retries.
 */
@Injectable()
export class CallbackService {
  constructor(
    private readonly registry: CallbackRegistry,
    private readonly transactions: TransactionRunner,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(callbacksConfig.KEY) private readonly config: CallbacksConfig,
    @Inject(connectorConfig.KEY) private readonly connector: ConnectorConfig,
    private readonly audit: AuditService,
    private readonly outbox: OutboxService,
    private readonly backpressure: OutboxBackpressure,
    @Inject(APPROVAL_GATE) private readonly gate: ApprovalGate,
  ) {}

  /** `audit`: the request's audit state (CallbackAuditHook records what the write's own transaction did not). */
  async dispatch(body: unknown, caller: VerifiedCaller, extra: Record<string, unknown>, audit?: CallbackAudit): Promise<CallbackResponse> {
    const envelope = parseEnvelope(body);
    // Checked for every callback, here rather than in the handlers that store it: a data center
    // outside the allow-list never comes from the platform, and the connector sends its secret to
    // whatever a mapping names.
    const datacenterUrl = envelope.context.datacenter_url === undefined ? undefined : normalizeDatacenterUrl(envelope.context.datacenter_url);
    const problem = datacenterUrl === undefined ? null : datacenterUrlProblem(datacenterUrl, this.connector.allowedDcHosts);
    if (problem) throw new DomainError(ErrorCode.DatacenterNotAllowed, `Invalid request: context.${problem}.`);
    const callback = this.registry.get(envelope.context.callback_id);
    if (!callback) throw new DomainError(ErrorCode.CallbackNotFound, 'Callback not found.');
    if (callback.method && !this.config.enablementMethods.has(callback.method)) {
      throw new DomainError(ErrorCode.EnablementMethodOff, `This CyberApp does not serve the ${callback.method} enablement method (ENABLEMENT_METHODS).`);
    }
    if (requestTypeName(envelope.type) !== callback.requestName) {
      throw new DomainError(ErrorCode.RequestTypeMismatch, `Request type must be ${callback.requestType} (any v1.x) for this callback.`);
    }
    const payload = callback.payload
      ? await validateDto(callback.payload, envelope.payload ?? {}, 'payload')
      : callback.requiresObjectPayload
        ? (envelope.payload ?? {})
        : undefined;
    const base = {
      requestId: envelope.request_id,
      caller,
      context: {
        callbackId: callback.callbackId,
        endpointId: envelope.context.endpoint_id,
        tenantId: envelope.context.tenant_id,
        datacenterUrl,
      },
      payload,
      extra,
    };
    if (!callback.write) {
      const result = await callback.handler.handle({ ...base, em: this.dataSource.manager, afterCommit: (task) => task(), report: () => undefined });
      return this.respond(callback, envelope.request_id, result);
    }
    return this.runWrite(callback, base, envelope, audit);
  }

  private respond(callback: RegisteredCallback, requestId: string, payload: CallbackResult): CallbackResponse {
    const response: CallbackResponse = { type: callback.responseType, request_id: requestId, response_id: randomUUID() };
    if (payload !== undefined) response.payload = payload;
    return response;
  }

  private async runWrite(
    callback: RegisteredCallback,
    base: InvocationBase,
    envelope: CallbackEnvelope,
    audit: CallbackAudit | undefined,
  ): Promise<CallbackResponse> {
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([envelope.type, envelope.context, envelope.payload ?? null]))
      .digest('hex');
    const key = { callbackId: callback.callbackId, requestId: envelope.request_id };
    // A repeat of a request answered within the idempotency window replays that answer below,
    // without asking the hooks again; anything else is asked first.
    const answered = await this.dataSource.manager.exists(CallbackRequest, { where: { ...key, createdAt: MoreThanOrEqual(this.windowStart()) } });
    // While deliveries are behind, a new write waits (boundedly) before it adds to them: flow
    // control rather than a backlog that grows for as long as the load lasts (a replay adds nothing).
    if (!answered) await this.backpressure.admit(this.config.backpressureMaxWaitMs);
    let approval = callback.approval !== undefined && !answered ? await this.approve(callback, callback.approval, base) : null;
    // A unique violation (or deadlock) means a concurrent request committed first (PostgreSQL runs write
    // transactions concurrently): a duplicate of this very request answers as that one did;
    // anything else runs again on the now-committed state, a few times at most.
    for (let attempt = 1; ; attempt++) {
      const afterCommit: Array<() => void> = [];
      let recorded = false;
      try {
        const response = await this.transactions.run(async (em) => {
          recorded = false;
          const stored = await this.replay(em, key, base.caller, fingerprint);
          if (stored) return stored;
          // The stored answer expired (or was swept) since the check above: this is a new request, and the hooks decide first.
          if (callback.approval !== undefined && !approval) throw new ApprovalNeeded();
          // The callback's audit record commits with its change; the events it records name it as their cause.
          const recordId = this.audit.newId();
          this.outbox.setCause(em, recordId);
          let reported: Record<string, unknown> = {};
          const result = await callback.handler.handle({ ...base, em, afterCommit: (task) => afterCommit.push(task), report: (r) => (reported = r) });
          // The post-hooks (an outbox event) and the decisions commit with the change, or not at all.
          await approval?.succeeded(em, reported);
          const fresh = this.respond(callback, envelope.request_id, result);
          await em.insert(CallbackRequest, { ...key, userId: base.caller.userId, fingerprint, response: JSON.stringify(fresh) });
          await this.audit.record(em, [
            {
              id: recordId,
              kind: AuditKind.Callback,
              name: callback.callbackId,
              outcome: AuditOutcome.Ok,
              code: '200',
              organizationId: base.caller.organizationId,
              tenantId: base.context.tenantId,
              actor: base.caller.login,
              requestId: envelope.request_id,
              durationMs: audit?.elapsed() ?? null,
            },
          ]);
          recorded = true;
          return fresh;
        });
        if (audit) {
          audit.recorded = recorded;
          audit.replayed = !recorded;
        }
        afterCommit.forEach((task) => task());
        return response;
      } catch (error) {
        if (error instanceof ApprovalNeeded && callback.approval !== undefined) {
          approval = await this.approve(callback, callback.approval, base);
          continue;
        }
        // Whatever failed (e.g. "login exists" because the platform's retry raced the original on
        // PostgreSQL), an identical request that committed meanwhile is the answer.
        const stored = await this.replay(this.dataSource.manager, key, base.caller, fingerprint);
        if (stored) {
          if (audit) audit.replayed = true;
          return stored;
        }
        if (!isConcurrencyConflict(error)) {
          await approval?.failed(error);
          throw error;
        }
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          const conflict = new DomainError(ErrorCode.Conflict, 'A concurrent change conflicted with this request; retry it.');
          await approval?.failed(conflict);
          throw conflict;
        }
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
      }
    }
  }

  /** Asks the gate about the callback's declared operation (after the handler's own checks, which may refuse first). */
  private async approve(
    callback: RegisteredCallback,
    operation: string,
    base: InvocationBase,
  ): Promise<WriteApproval> {
    const organizationId = callback.handler.approvalOrganization
      ? await callback.handler.approvalOrganization({ ...base, em: this.dataSource.manager })
      : base.caller.organizationId;
    return this.gate.approve({ operation, organizationId, authId: base.caller.login, input: approvalInput(base.payload) });
  }

  private async replay(
    em: EntityManager,
    key: { callbackId: string; requestId: string },
    caller: VerifiedCaller,
    fingerprint: string,
  ): Promise<CallbackResponse | null> {
    const stored = await em.findOne(CallbackRequest, { where: key });
    if (!stored) return null;
    if (stored.createdAt.getTime() < this.windowStart().getTime()) {
      await em.delete(CallbackRequest, key);
      return null;
    }
    if (stored.userId !== caller.userId || stored.fingerprint !== fingerprint) {
      throw new DomainError(ErrorCode.IdempotencyMismatch, 'This request_id was already used for a different request.');
    }
    return JSON.parse(stored.response) as CallbackResponse;
  }

  /** The oldest stored answer still replayed. */
  private windowStart(): Date {
    return new Date(Date.now() - this.config.idempotencyTtlMs);
  }

  /** Forgets stored responses older than the idempotency window. */
  async sweep(): Promise<number> {
    const cutoff = this.windowStart();
    const result = await this.transactions.run((em) => em.delete(CallbackRequest, { createdAt: LessThan(cutoff) }));
    return result.affected ?? 0;
  }
}

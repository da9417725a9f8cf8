import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { AuditKind, AuditOutcome } from '../audit/audit-record.entity';
import { AuditEntry, AuditService } from '../audit/audit.service';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { parseCyberAppAuth } from '../auth/cyberapp-auth.parser';
import type { AnsweredRequest } from '../common/protocol-exception.filter';
import { CallbackRegistry } from './callback-registry.service';

const CALLBACK_ROUTE = '/callback';

/** What the callback's own transaction did about its audit record (set by CallbackService). */
export interface CallbackAudit {
  /** Milliseconds since the request arrived. */
  elapsed: () => number;
  /** Its record was committed with the write: nothing is left to record after the answer. */
  recorded: boolean;
  /** A repeat answered with the stored response. */
  replayed: boolean;
}

export type AuditedRequest = AnsweredRequest & { caller?: VerifiedCaller; callbackAudit?: CallbackAudit };

/** The request's audit state, made on first use. */
export function callbackAuditOf(request: FastifyRequest, reply: FastifyReply): CallbackAudit {
  const audited = request as AuditedRequest;
  audited.callbackAudit ??= { elapsed: () => reply.elapsedTime, recorded: false, replayed: false };
  return audited.callbackAudit;
}

const objectOf = (value: unknown): Record<string, unknown> | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/**
 * The audit record of every `POST /callback` that its own transaction did not record: reads,
 * replays, and every refusal, also those before the handler (bad JSON, 401, 429, 413…). A Fastify
 * hook, like the metrics', so that it sees the requests that guards and parsers refuse. Written
 * after the answer, through AuditService's group commit: the request waits for nothing.
 *
 * Recorded: the callback id, `request_id`, `context.tenant_id` as the platform sent them (cut to
 * the columns' sizes), the status and error code, the duration, and the caller: the verified
 * user, or, when authentication failed, the login named in `X-CyberApp-Auth` (never the rest of
 * the header, which holds the password) and that login's organization, if it exists.
 */
@Injectable()
export class CallbackAuditHook implements OnApplicationBootstrap {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly registry: CallbackRegistry,
    private readonly audit: AuditService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  onApplicationBootstrap(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) return;
    const isCallback = (request: FastifyRequest) => request.routeOptions.url === CALLBACK_ROUTE && request.method === 'POST';
    fastify.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      if (isCallback(request)) this.recordAnswered(request, reply);
      done();
    });
  }

  private recordAnswered(request: AuditedRequest, reply: FastifyReply): void {
    const mark = request.callbackAudit;
    if (mark?.recorded) return;
    const body = objectOf(request.body);
    const context = objectOf(body?.context);
    const raw = context?.callback_id;
    const status = reply.statusCode;
    const failed = status >= 400;
    const caller = request.caller;
    const entry: AuditEntry = {
      kind: AuditKind.Callback,
      name: typeof raw === 'string' ? (this.registry.get(raw)?.callbackId ?? raw) : null,
      outcome: failed ? AuditOutcome.Failed : AuditOutcome.Ok,
      code: failed ? (request.errorCode ?? String(status)) : String(status),
      organizationId: caller?.organizationId ?? null,
      tenantId: typeof context?.tenant_id === 'string' ? context.tenant_id : null,
      actor: caller?.login ?? null,
      requestId: typeof body?.request_id === 'string' ? body.request_id : null,
      durationMs: reply.elapsedTime,
      detail: failed ? { status } : mark?.replayed ? { replayed: true } : null,
    };
    if (caller) return this.audit.later(entry);
    // Refused before (or at) authentication: the login it named, if well-formed, and that login's organization.
    const login = parseCyberAppAuth(request.headers['x-cyberapp-auth'])?.identity;
    if (login === undefined) return this.audit.later(entry);
    void this.organizationOf(login).then((organizationId) => this.audit.later({ ...entry, actor: login, organizationId }));
  }

  private async organizationOf(login: string): Promise<string | null> {
    try {
      const [sql, params] = this.dataSource.driver.escapeQueryWithParameters('SELECT organization_id FROM users WHERE login = :login', { login }, {});
      const rows: Array<{ organization_id: string }> = await this.dataSource.query(sql, params);
      return rows[0]?.organization_id ?? null;
    } catch {
      return null;
    }
  }
}

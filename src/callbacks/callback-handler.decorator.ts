import { DiscoveryService } from '@nestjs/core';
import type { EntityManager } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import type { CallbackIdVersion, TypeVersion } from './callback-cti';
import type { CallbackExample } from './callback-example';
import type { EnablementMethod } from './enablement-method';

export const EMPTY_REQUEST = 'a.p.empty.v1.0';
export const NO_CONTENT_RESPONSE = 'a.p.success_no_content.v1.0';

export interface CallbackHandlerOptions {
  /** Callback ID after `cti.a.p.acgw.callback.<version>~`; `{APP_CODE}` is replaced from config. */
  id: string;
  /**
   * Version of the callback ID as the guide gives it (default v1.0; the mirroring callbacks are
   * v2.0). Requests are routed on the part after the prefix, under any accepted version.
   */
  callbackVersion?: CallbackIdVersion;
  /** Request type after `cti.a.p.acgw.request.<version>~`; defaults to the ID (`a.p.empty.v1.0` for none). Any v1.x is accepted. */
  requestType?: string;
  /** Version of the request type as the guide gives it (default v1.0), for messages and docs. */
  requestVersion?: TypeVersion;
  /** Response type after `cti.a.p.acgw.response.<version>~`. */
  responseType: string;
  /** The response type's version: what the platform expects back (default v1.0; the mirroring callbacks answer v1.1). */
  responseVersion?: TypeVersion;
  /** The enablement method the callback belongs to: refused while ENABLEMENT_METHODS leaves it out. None for custom callbacks. */
  method?: EnablementMethod;
  /** class-validator DTO the payload must satisfy; omitted for payload-less callbacks. */
  payload?: new () => object;
  /** Writes run in one transaction and answer a repeated request_id with the stored response. */
  write?: boolean;
  /**
   * Write callbacks only: the operation the approval gate (approval hooks, src/hooks) is asked
   * about before the transaction, e.g. `user.create`; the handler reports what it did with
   * `report`. Without it, the gate is never asked.
   */
  approval?: string;
  /**
   * A request payload and its answer, for the OpenAPI document (`POST /callback`'s examples, one
   * per callback); test/ops/openapi.e2e-spec.ts sends each one to the app and checks the answer.
   */
  example: CallbackExample;
}

/** The request's `context`, as validated. */
export interface CallbackRequestContext {
  callbackId: string;
  endpointId: string;
  tenantId: string;
  datacenterUrl?: string;
}

export interface CallbackInvocation<P = undefined> {
  requestId: string;
  caller: VerifiedCaller;
  context: CallbackRequestContext;
  payload: P;
  /** `X-CyberApp-Extra`, parsed leniently. */
  extra: Record<string, unknown>;
  /** In a transaction for write callbacks; record domain events through it. */
  em: EntityManager;
  /** Runs after the transaction commits (e.g. dropping cached credentials). */
  afterCommit(task: () => void): void;
  /** Callbacks declaring `approval`: what the operation did, for its post-hooks (the last report counts). */
  report(result: Record<string, unknown>): void;
}

/** A write callback before its transaction: reads on the default connection, no changes. */
export type PreWriteInvocation<P> = Omit<CallbackInvocation<P>, 'afterCommit' | 'report'>;

/**
 * What a handler answers: the response payload, or undefined for no-content responses. An array
 * for the one response type whose payload the guide shows as a list (`a.p.customer.mirroring.get_state.ok`).
 */
export type CallbackResult = Record<string, unknown> | unknown[] | undefined;

export interface CallbackHandlerContract<P = undefined> {
  /**
   * Callbacks declaring `approval` only: runs before the approval gate is asked (outside the
   * transaction, so that a request that cannot succeed asks no hook) and answers the organization
   * the operation is for. Without it, the caller's.
   */
  approvalOrganization?(invocation: PreWriteInvocation<P>): Promise<string>;
  handle(invocation: CallbackInvocation<P>): Promise<CallbackResult>;
}

/**
 * Marks an `@Injectable()` class as the handler of one callback ID. CallbackRegistry finds
 * every marked provider at boot through Nest's DiscoveryService and fails the boot on a duplicate.
 */
export const CallbackHandler = DiscoveryService.createDecorator<CallbackHandlerOptions>();

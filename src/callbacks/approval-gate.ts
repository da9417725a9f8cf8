import type { EntityManager } from 'typeorm';
import type { TransactionRunner } from '../database/transaction-runner.service';

/** What an operation tells the approval gate. */
export interface ApprovalRequest {
  /** The operation's name, as declared (`@CallbackHandler({ approval })`), e.g. `user.create`. */
  operation: string;
  /** The organization the operation is for (hooks of it and of its ancestors are asked). */
  organizationId: string;
  /** The acting login (CCX's `auth_id`). */
  authId: string;
  /** The operation's input, as the caller gave it (never a secret). */
  input: Record<string, unknown>;
}

/** An operation the gate approved, told how its write ended (its post-hooks). One per operation. */
export interface WriteApproval {
  /** Inside the write's transaction, once the change is made: commits with it. */
  succeeded(em: EntityManager, result: Record<string, unknown>): Promise<void>;
  /** After the write failed for good (rolled back). Never throws. */
  failed(error: unknown): Promise<void>;
}

/**
 * Approval of gateway operations (src/hooks provides it under {@link APPROVAL_GATE}): asked
 * before an operation's transaction, outside it; throws a 403 DomainError when the operation is
 * vetoed.
 */
export interface ApprovalGate {
  approve(request: ApprovalRequest): Promise<WriteApproval>;
}

export const APPROVAL_GATE = Symbol('APPROVAL_GATE');

/** An operation's input as the gate receives it: the plain JSON of what the caller gave (validated DTOs lose their class). */
export function approvalInput(value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  const plain: unknown = JSON.parse(JSON.stringify(value));
  return plain !== null && typeof plain === 'object' && !Array.isArray(plain) ? (plain as Record<string, unknown>) : { value: plain };
}

/**
 * Runs `work` as an approved operation outside the callback path (the webhooks API): the gate
 * first, then `work` in a transaction that also reports `resultOf` what it returned; a failure
 * is reported too.
 */
export async function runApproved<T>(
  gate: ApprovalGate,
  transactions: TransactionRunner,
  request: ApprovalRequest,
  work: (em: EntityManager) => Promise<T>,
  resultOf: (value: T) => Record<string, unknown>,
): Promise<T> {
  const approval = await gate.approve(request);
  try {
    return await transactions.run(async (em) => {
      const done = await work(em);
      await approval.succeeded(em, resultOf(done));
      return done;
    });
  } catch (error) {
    await approval.failed(error);
    throw error;
  }
}

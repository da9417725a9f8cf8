import type { EntityManager, EntityTarget, FindOneOptions, ObjectLiteral } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { isLookupId } from '../common/ids';
import { isUniqueViolation } from '../database/unique-violation';
import { isVisibleOrganization } from '../organizations/organization-tree';

export const FOREIGN_ORGANIZATION = 'organization_id is not your organization or one below it.';

/** A row lock on PostgreSQL; SQLite serializes its transactions and has no row locks. */
export function lockFor<T>(em: EntityManager): Pick<FindOneOptions<T>, 'lock'> {
  return em.connection.options.type === 'postgres' ? { lock: { mode: 'pessimistic_write' } } : {};
}

/** The caller's organization, or the given one if it is the caller's or below it (403 otherwise, unknown ones alike). */
export async function ownerFor(em: EntityManager, caller: VerifiedCaller, organizationId: string | undefined): Promise<string> {
  const owner = organizationId ?? caller.organizationId;
  if (!(await isVisibleOrganization(em, caller, owner))) throw new DomainError(ErrorCode.Forbidden, FOREIGN_ORGANIZATION);
  return owner;
}

/** A row of the caller's subtree by id; another organization's is as unknown as a missing one (404). */
export async function findVisible<T extends { organizationId: string }>(
  em: EntityManager,
  caller: VerifiedCaller,
  entity: new () => T,
  id: string,
  what: string,
  lock = false,
): Promise<T> {
  const row = isLookupId(id)
    ? await em.findOne(entity, { where: { id } as never, ...(lock ? lockFor<T>(em) : {}) })
    : null;
  if (!row || !(await isVisibleOrganization(em, caller, row.organizationId))) throw new DomainError(ErrorCode.NotFound, `${what} not found.`);
  return row;
}

/** Inserts the row; a unique violation (the name or the pair is taken) is a 409 saying `conflict`. */
export async function insertUnique<T extends ObjectLiteral>(em: EntityManager, entity: EntityTarget<T>, values: QueryDeepPartialEntity<T>, conflict: string): Promise<void> {
  try {
    await em.insert(entity, values);
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError(ErrorCode.Conflict, conflict);
    throw error;
  }
}

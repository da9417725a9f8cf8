import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Subject } from 'rxjs';
import { DataSource } from 'typeorm';
import type { EntityManager, EntitySubscriberInterface, QueryRunner, TransactionCommitEvent, TransactionRollbackEvent, TransactionStartEvent } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { DomainEvent } from './event.entity';
import { newRowId } from '../common/ids';

/**
 * The organizations an event of `organizationId` concerns: it first, then its ancestors up to the
 * top. Provided at start-up by the organization tree's owner (src/organizations), so that the
 * outbox and the delivery core import no domain module.
 */
export type EventOrganizations = (em: EntityManager, organizationId: string) => Promise<string[]>;

export interface NewEvent {
  type: string;
  organizationId: string | null;
  data: Record<string, unknown>;
}

/**
 * The transactional outbox: an event is written with the same EntityManager (so in the same
 * transaction) as the change it reports, and is delivered later by the delivery core.
 *
 * `committed$` fires once the transaction that recorded events has committed (a TypeORM
 * transaction subscriber), so that the dispatcher picks them up at once instead of at its next poll.
 */
@Injectable()
export class OutboxService implements EntitySubscriberInterface {
  readonly committed$ = new Subject<void>();
  private readonly uncommitted = new WeakSet<QueryRunner>();
  /** The cause named in a transaction, with the nesting depth it was named at: it ends with that level (a savepoint of a group commit). */
  private readonly causes = new WeakMap<QueryRunner, { id: string; depth: number }>();
  /** Transaction nesting per query runner, counted from TypeORM's transaction events (its own counter is protected). */
  private readonly depths = new WeakMap<QueryRunner, number>();
  private organizationsOf: EventOrganizations | null = null;

  constructor(@InjectDataSource() dataSource: DataSource) {
    dataSource.subscribers.push(this);
  }

  /** Called once at start-up by the organization tree's owner: see {@link EventOrganizations}. */
  useOrganizations(organizationsOf: EventOrganizations): void {
    this.organizationsOf = organizationsOf;
  }

  /**
   * Names the audit record of the work running in `em`'s transaction (a callback's): the events
   * recorded in it carry it as their cause, for the audit trail's chain (src/audit).
   */
  setCause(em: EntityManager, auditRecordId: string): void {
    if (em.queryRunner) this.causes.set(em.queryRunner, { id: auditRecordId, depth: this.depths.get(em.queryRunner) ?? 0 });
  }

  /** The audit record named by {@link setCause} for `em`'s transaction, if any. */
  causeOf(em: EntityManager): string | null {
    return (em.queryRunner?.isTransactionActive && this.causes.get(em.queryRunner)?.id) || null;
  }

  async record(em: EntityManager, event: NewEvent): Promise<DomainEvent> {
    // Set here, not by the database default, which has only second precision on SQLite.
    const organizationIds = event.organizationId === null ? [] : await this.concerned(em, event.organizationId);
    const row = em.create(DomainEvent, { id: newRowId(), ...event, organizationIds, causeId: this.causeOf(em), createdAt: new Date(), dispatchedAt: null });
    // simple-json columns are serialized by TypeORM; its partial-entity type cannot express that.
    await em.insert(DomainEvent, row as QueryDeepPartialEntity<DomainEvent>);
    const runner = em.queryRunner;
    if (runner?.isTransactionActive) this.uncommitted.add(runner);
    else setImmediate(() => this.committed$.next());
    return row;
  }

  private async concerned(em: EntityManager, organizationId: string): Promise<string[]> {
    if (!this.organizationsOf) throw new Error('The outbox records an event of an organization, but no module provides the organization tree (OrganizationsModule).');
    const ids = await this.organizationsOf(em, organizationId);
    // An organization not (yet) in the tree: the event still concerns it, as subscriptions of its id match.
    return ids.length > 0 ? ids : [organizationId];
  }

  afterTransactionStart(event: TransactionStartEvent): void {
    this.depths.set(event.queryRunner, (this.depths.get(event.queryRunner) ?? 0) + 1);
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    // A savepoint's release is reported as a commit too; only the outermost one makes events visible.
    this.ended(event.queryRunner);
    if (event.queryRunner.isTransactionActive || !this.uncommitted.has(event.queryRunner)) return;
    this.uncommitted.delete(event.queryRunner);
    this.committed$.next();
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    this.ended(event.queryRunner);
    if (!event.queryRunner.isTransactionActive) this.uncommitted.delete(event.queryRunner);
  }

  /**
   * A transaction or savepoint of `runner` ended: a cause named inside it ends too. On SQLite the
   * transactions of a group commit are savepoints of one transaction on one query runner
   * (TransactionRunner), and one's cause must not name the events of the next.
   */
  private ended(runner: QueryRunner): void {
    const depth = runner.isTransactionActive ? Math.max(0, (this.depths.get(runner) ?? 1) - 1) : 0;
    this.depths.set(runner, depth);
    const cause = this.causes.get(runner);
    if (cause && (depth === 0 || cause.depth > depth)) this.causes.delete(runner);
  }
}

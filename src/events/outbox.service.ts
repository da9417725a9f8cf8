import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { DomainEvent } from './event.entity';

export interface NewEvent {
  type: string;
  organizationId: string | null;
  data: Record<string, unknown>;
}

/**
 * The transactional outbox: an event is written with the same EntityManager (so in the same
 * transaction) as the change it reports, and is delivered later by the delivery core.
 */
@Injectable()
export class OutboxService {
  async record(em: EntityManager, event: NewEvent): Promise<DomainEvent> {
    const row = em.create(DomainEvent, { id: randomUUID(), ...event });
    // simple-json columns are serialized by TypeORM; its partial-entity type cannot express that.
    await em.insert(DomainEvent, row as QueryDeepPartialEntity<DomainEvent>);
    return row;
  }
}

import { Injectable, OnModuleInit } from '@nestjs/common';
import { OutboxService } from '../events/outbox.service';
import type { EntityManager } from 'typeorm';
import { Organization, OrganizationKind } from './organization.entity';
import { ancestryOf, inSubtree, subtreeIds } from './organization-tree';

interface OrganizationRow {
  id: string;
  name: string;
  kind: OrganizationKind;
  parent_id: string | null;
}

/** Hierarchy queries on the organization tree, for modules that inject it (the SQL is organization-tree.ts's). */
@Injectable()
export class OrganizationsService implements OnModuleInit {
  constructor(private readonly outbox: OutboxService) {}

  /** Events carry the ids of the organizations they concern, the tree's answer when they are written (src/events knows no domain module). */
  onModuleInit(): void {
    this.outbox.useOrganizations(ancestryOf);
  }

  /** The organization and every organization below it, at any depth. */
  async subtree(em: EntityManager, rootId: string): Promise<Organization[]> {
    const below = inSubtree('o.id', rootId);
    const [sql, params] = em.connection.driver.escapeQueryWithParameters(`SELECT o.id, o.name, o.kind, o.parent_id FROM organizations o WHERE ${below.sql}`, below.params, {});
    const rows: OrganizationRow[] = await em.query(sql, params);
    return rows.map((r) => Object.assign(new Organization(), { id: r.id, name: r.name, kind: r.kind, parentId: r.parent_id }));
  }

  async subtreeIds(em: EntityManager, rootId: string): Promise<Set<string>> {
    return new Set(await subtreeIds(em, rootId));
  }

  /** CUSTOMER organizations at any depth below the root, ordered by name then id. */
  async customersOf(em: EntityManager, rootId: string): Promise<Organization[]> {
    return this.customersIn(await this.subtree(em, rootId), rootId);
  }

  /** customersOf, for a subtree already loaded. */
  customersIn(subtree: Organization[], rootId: string): Organization[] {
    return subtree
      .filter((o) => o.kind === OrganizationKind.Customer && o.id !== rootId)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1));
  }
}

import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { Organization } from '../organizations/organization.entity';
import { olderThanCursor } from '../organizations/organization-tree';
import { LIST_LIMIT_DEFAULT } from './connector-intake.dto';
import { ConnectorRun } from './connector-run.entity';
import { ConnectorRunPage, ConnectorRunView } from './connector.views';

const RUNS_NOT_FOUND = 'Connector runs not found.';

function runView(r: ConnectorRun): ConnectorRunView {
  return {
    id: r.id,
    trigger: r.trigger,
    holder: r.holder,
    status: r.status,
    started_at: r.startedAt.toISOString(),
    finished_at: r.finishedAt ? r.finishedAt.toISOString() : null,
    duration_ms: r.finishedAt ? r.finishedAt.getTime() - r.startedAt.getTime() : null,
    sent: r.sent,
    failed: r.failed,
    skipped: r.skipped,
    error: r.error,
  };
}

/**
 * The runs of the connector (`connector_runs`, written by ConnectorRunner). A run is the vendor's
 * global pass over every organization's items, not any one organization's: only users of the root
 * organization (the one organization without a parent, as for webhook scope Global) may read them;
 * to anyone else they do not exist (404).
 */
@Injectable()
export class ConnectorRunsService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Whether the caller belongs to the root organization: the only one without a parent. */
  async isVendor(caller: VerifiedCaller): Promise<boolean> {
    const em = this.dataSource.manager;
    const own = await em.findOne(Organization, { select: { id: true, parentId: true }, where: { id: caller.organizationId } });
    if (!own || own.parentId !== null) return false;
    // Several top-level organizations are separate trees: none of them is the vendor.
    return (await em.count(Organization, { where: { parentId: IsNull() } })) === 1;
  }

  /** Newest first (`started_at`, then `id`); `before` is the id of the last run seen. */
  async list(caller: VerifiedCaller, query: { before?: string; limit?: number } = {}): Promise<ConnectorRunPage> {
    if (!(await this.isVendor(caller))) throw new DomainError(ErrorCode.NotFound, RUNS_NOT_FOUND);
    const limit = query.limit ?? LIST_LIMIT_DEFAULT;
    const qb = this.dataSource.manager.createQueryBuilder(ConnectorRun, 'r');
    if (query.before !== undefined) {
      // Runs belong to no organization: any run is the vendor's.
      await olderThanCursor(qb, caller, query.before, { timeColumn: 'started_at', owner: 'id', visible: () => Promise.resolve(true), refusal: 'Invalid request: before must be the id of a run.' });
    }
    const rows = await qb.orderBy('r.started_at', 'DESC').addOrderBy('r.id', 'DESC').limit(limit + 1).getMany();
    const page = rows.slice(0, limit);
    return { items: page.map(runView), next_before: rows.length > limit ? page[page.length - 1].id : null };
  }
}

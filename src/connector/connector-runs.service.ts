import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { DomainError, ErrorCode } from '../common/domain-error';
import { hasControlCharacters } from '../common/printable';
import { Organization } from '../organizations/organization.entity';
import { ConnectorRun } from './connector-run.entity';
import { ConnectorRunPage, ConnectorRunView } from './connector.views';

export const RUNS_LIMIT_DEFAULT = 50;
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
    const em = this.dataSource.manager;
    const limit = query.limit ?? RUNS_LIMIT_DEFAULT;
    const qb = em.createQueryBuilder(ConnectorRun, 'r');
    if (query.before !== undefined) {
      const known = query.before.length <= 64 && !hasControlCharacters(query.before) && (await em.exists(ConnectorRun, { where: { id: query.before } }));
      if (!known) throw new DomainError(ErrorCode.ValidationFailed, 'Invalid request: before must be the id of a run.');
      qb.where('(r.started_at, r.id) < (SELECT c.started_at, c.id FROM connector_runs c WHERE c.id = :before)', { before: query.before });
    }
    const rows = await qb.orderBy('r.started_at', 'DESC').addOrderBy('r.id', 'DESC').limit(limit + 1).getMany();
    const page = rows.slice(0, limit);
    return { items: page.map(runView), next_before: rows.length > limit ? page[page.length - 1].id : null };
  }
}

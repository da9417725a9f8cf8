import { Get, Param, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AuditQueryService } from '../audit/audit-query.service';
import { AuditKind } from '../audit/audit-record.entity';
import { ListAuditQueryDto } from '../audit/audit.dto';
import { DomainError, ErrorCode } from '../common/domain-error';
import { validateApiBody } from '../common/validate-dto';
import { WebhookDeliveriesService } from '../webhooks/webhook-deliveries.service';
import { ConsoleAssets } from './console-assets.service';
import { ConsolePages } from './console-auth.guard';
import { ConsoleRequest, queryText, sendPage } from './console-http';
import { viewerOf } from './console-viewer';
import { ActivityFilters, activityPage, activityRecordPage, EMPTY_ACTIVITY_FILTERS, filterParams } from './views/activity';
import { parseInstant } from './views/format';

const PAGE_SIZE = 50;
/** Delivery pages linked from one chain, at most (each is checked against the viewer's scope). */
const MAX_DELIVERY_LINKS = 20;

/**
 * The console's Activity pages: the audit trail through AuditQueryService, the service behind
 * `/api/audit`, with the signed-in user as the caller: the same organization scope (another
 * organization's record is 404, also by URL) and the same validation of the filters.
 */
@ConsolePages()
export class ConsoleActivityController {
  constructor(
    private readonly assets: ConsoleAssets,
    private readonly audit: AuditQueryService,
    private readonly deliveries: WebhookDeliveriesService,
  ) {}

  @Get('activity')
  async list(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const filters: ActivityFilters = { ...EMPTY_ACTIVITY_FILTERS };
    for (const key of Object.keys(filters) as Array<keyof ActivityFilters>) filters[key] = (queryText(query[key]) ?? '').trim();
    const before = queryText(query.before);
    // The form's datetime-local values are UTC; the API takes ISO 8601.
    const instant = (name: 'from' | 'to'): string | undefined => {
      if (filters[name] === '') return undefined;
      const parsed = parseInstant(filters[name]);
      if (parsed === null) throw new DomainError(ErrorCode.ValidationFailed, `Give "${name === 'from' ? 'From' : 'To'}" as a date and time (UTC).`);
      return parsed;
    };
    const dto = await validateApiBody(ListAuditQueryDto, {
      ...filterParams({ ...filters, from: '', to: '' }),
      from: instant('from'),
      to: instant('to'),
      before,
      limit: String(PAGE_SIZE),
    });
    const result = await this.audit.list(viewer.caller, dto);
    sendPage(reply, 200, activityPage(this.assets.urls, viewer, { result, filters, before, at: new Date().toISOString() }));
  }

  @Get('activity/:id')
  async record(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const viewer = viewerOf(request);
    const chain = await this.audit.get(viewer.caller, id);
    // Linked only where the delivery still exists and is a webhook delivery the viewer may open (not a post-hook's).
    const candidates = [chain.record, ...chain.caused_by, ...chain.caused]
      .filter((r) => (r.kind === AuditKind.Delivery || r.kind === AuditKind.DeliveryAttempt) && r.delivery_id !== null && r.detail?.post_hook !== true)
      .map((r) => r.delivery_id as string);
    const deliveryLinks = new Set<string>();
    for (const deliveryId of [...new Set(candidates)].slice(0, MAX_DELIVERY_LINKS)) {
      try {
        await this.deliveries.get(viewer.caller, deliveryId);
        deliveryLinks.add(deliveryId);
      } catch (error) {
        if (!(error instanceof DomainError) || error.code !== ErrorCode.NotFound) throw error;
      }
    }
    sendPage(reply, 200, activityRecordPage(this.assets.urls, viewer, { chain, deliveryLinks }));
  }
}

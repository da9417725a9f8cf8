import { Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { S3InboxService } from '../s3-events/s3-inbox.service';
import { S3SourcesService } from '../s3-events/s3-sources.service';
import { ConsoleAssets } from './console-assets.service';
import { ConsolePages } from './console-auth.guard';
import { chosenFilter, ConsoleRequest, queryText, redirect, sendPage } from './console-http';
import { viewerOf } from './console-viewer';
import { url } from './html';
import { INBOX_FILTERS, recordPage, sourcePage, sourcesPage } from './views/s3';

const SOURCES_PAGE_SIZE = 100;
const INBOX_PAGE_SIZE = 50;

/**
 * The console's S3 pages: sources, their confirmations and inbox, one record and its replay.
 * Everything goes through the services of the S3 API (S3SourcesService, S3InboxService) with the
 * signed-in user as the caller: the same organization scoping (another organization's ids are 404
 * as unknown ones), the same validation. The inbox is paged by key without a total (it can be large).
 */
@ConsolePages()
export class ConsoleS3Controller {
  constructor(
    private readonly assets: ConsoleAssets,
    private readonly sources: S3SourcesService,
    private readonly inbox: S3InboxService,
  ) {}

  @Get('s3-sources')
  async list(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const before = queryText(query.before);
    // Sources are few (one per bucket notification endpoint): their total is cheap, and says whether more follow.
    const result = await this.sources.list(viewer.caller, { limit: String(SOURCES_PAGE_SIZE), before });
    const lastConfirmed = await this.sources.lastConfirmed(result.items.map((s) => s.id));
    sendPage(reply, 200, sourcesPage(this.assets.urls, viewer, { items: result.items, more: result.total > result.items.length, lastConfirmed, before, at: new Date().toISOString() }));
  }

  @Get('s3-sources/:id')
  async source(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const source = await this.sources.get(viewer.caller, id);
    const filter = chosenFilter(INBOX_FILTERS, queryText(query.state) ?? 'all');
    const before = queryText(query.before);
    const confirmations = await this.sources.confirmations(viewer.caller, source.id);
    const inbox = await this.inbox.page(viewer.caller, { source_id: source.id, state: filter === 'all' ? undefined : filter, before, limit: String(INBOX_PAGE_SIZE) });
    sendPage(reply, 200, sourcePage(this.assets.urls, viewer, { source, confirmations: confirmations.items, inbox, filter, before, at: new Date().toISOString() }));
  }

  @Get('s3-records/:id')
  async record(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const record = await this.inbox.get(viewer.caller, id);
    const source = await this.sources.get(viewer.caller, record.source_id);
    const notice = queryText(query.notice) === 'replayed' ? { kind: 'ok' as const, text: 'Replay queued: every action of the source runs again for this event as soon as the worker picks it up.' } : null;
    sendPage(reply, 200, recordPage(this.assets.urls, viewer, { record, source, notice, at: new Date().toISOString() }));
  }

  @Post('s3-records/:id/replay')
  async replay(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const record = await this.inbox.replay(viewerOf(request).caller, id);
    redirect(reply, url('s3-records', record.id, { notice: 'replayed' }));
  }
}

import { Inject, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { validateDto } from '../common/validate-dto';
import { ListItemsQueryDto, ListRunsQueryDto } from '../connector/connector-intake.dto';
import { ConnectorItemsService } from '../connector/connector-items.service';
import { ConnectorRunsService } from '../connector/connector-runs.service';
import { ConsoleAssets } from './console-assets.service';
import { ConsolePages } from './console-auth.guard';
import { ConsoleRequest, queryText, redirect, sendPage } from './console-http';
import { viewerOf } from './console-viewer';
import { url } from './html';
import { connectorPage, itemPage, runsPage } from './views/connector';
import { consoleConfig, ConsoleConfig } from '../config/console.config';

const ITEMS_PAGE_SIZE = 50;
const RUNS_PAGE_SIZE = 50;

const NOTICES: Record<string, string> = {
  'sent-now': 'The item is due now; a connector run has been asked for. This page shows its outcome as it comes.',
};

function noticeOf(query: Record<string, unknown>): { kind: 'ok'; text: string } | null {
  const key = queryText(query.notice);
  return key !== undefined && Object.prototype.hasOwnProperty.call(NOTICES, key) ? { kind: 'ok', text: NOTICES[key] } : null;
}

/**
 * The console's connector pages: items by state, one item, "send now", and the runs. Items go
 * through ConnectorItemsService and runs through ConnectorRunsService, the services of the
 * connector API, with the signed-in user as the caller: another organization's item is 404, the
 * runs are the root organization's only (404 for anyone else).
 */
@ConsolePages('console/connector')
export class ConsoleConnectorController {
  constructor(
    private readonly assets: ConsoleAssets,
    private readonly items: ConnectorItemsService,
    private readonly runs: ConnectorRunsService,
    @Inject(consoleConfig.KEY) private readonly config: ConsoleConfig,
  ) {}

  @Get()
  async list(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    // The filter form sends an empty state for "All states".
    const state = queryText(query.state) || undefined;
    const before = queryText(query.before);
    const dto = await validateDto(ListItemsQueryDto, { state, before, limit: String(ITEMS_PAGE_SIZE) }, 'query');
    const result = await this.items.list(viewer.caller, dto);
    // The open states only: their rows are the queue, not the history (docs/console.md).
    const { byState: counts } = await this.items.figures(viewer.caller, new Date(), this.config.overviewCountCap);
    const vendor = await this.runs.isVendor(viewer.caller);
    sendPage(
      reply,
      200,
      connectorPage(this.assets.urls, viewer, { counts, result, state: dto.state, before, vendor, notice: noticeOf(query), at: new Date().toISOString() }),
    );
  }

  @Get('runs')
  async runList(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const before = queryText(query.before);
    const result = await this.runs.list(viewer.caller, await validateDto(ListRunsQueryDto, { before, limit: String(RUNS_PAGE_SIZE) }, 'query'));
    sendPage(reply, 200, runsPage(this.assets.urls, viewer, { result, before, at: new Date().toISOString() }));
  }

  @Get('items/:id')
  async item(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const item = await this.items.get(viewer.caller, id);
    sendPage(reply, 200, itemPage(this.assets.urls, viewer, { item, notice: noticeOf(query), at: new Date().toISOString() }));
  }

  @Post('items/:id/send-now')
  async sendNow(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const item = await this.items.sendNow(viewerOf(request).caller, id);
    redirect(reply, url('connector', 'items', item.id, { notice: 'sent-now' }));
  }
}

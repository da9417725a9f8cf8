import { Get, Param, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ActionConnectionRegistry } from '../actions/action-connection-registry.service';
import { ActionHandlersService } from '../actions/action-handlers.service';
import { ActionLedgerService } from '../actions/action-ledger.service';
import { ListActionsQueryDto } from '../actions/actions.dto';
import { validateDto } from '../common/validate-dto';
import { ConsoleAssets } from './console-assets.service';
import { ConsolePages } from './console-auth.guard';
import { chosenFilter, ConsoleRequest, queryText, sendPage } from './console-http';
import { viewerOf } from './console-viewer';
import { ACTION_FILTERS, actionPage, actionsPage, handlersPage } from './views/actions';

const PAGE_SIZE = 50;

/**
 * The console's action pages: the ledger, the handlers (connected to this process now, last seen),
 * one action with its result. Everything goes through the services of the actions API
 * (ActionLedgerService, ActionHandlersService) with the signed-in user as the caller, and the
 * channel's own connection registry for "connected": the same scoping, the same validation. The
 * ledger is paged by key without a total.
 */
@ConsolePages()
export class ConsoleActionsController {
  private readonly connected = (id: string): boolean => this.connections.isConnected(id);

  constructor(
    private readonly assets: ConsoleAssets,
    private readonly ledger: ActionLedgerService,
    private readonly handlers: ActionHandlersService,
    private readonly connections: ActionConnectionRegistry,
  ) {}

  @Get('actions')
  async list(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const filter = chosenFilter(ACTION_FILTERS, queryText(query.state) || 'all');
    const capability = (queryText(query.capability) ?? '').trim();
    const handler = queryText(query.handler) ?? '';
    const before = queryText(query.before);
    const dto = await validateDto(
      ListActionsQueryDto,
      {
        state: filter === 'all' ? undefined : filter,
        capability: capability === '' ? undefined : capability,
        handler_id: handler === '' ? undefined : handler,
        before,
        limit: String(PAGE_SIZE),
      },
      'query',
    );
    const result = await this.ledger.page(viewer.caller, dto);
    const handlers = new Map((await this.handlers.list(viewer.caller, undefined, this.connected)).items.map((h) => [h.id, h]));
    sendPage(reply, 200, actionsPage(this.assets.urls, viewer, { ...result, handlers, filter, capability, handler, before, at: new Date().toISOString() }));
  }

  @Get('action-handlers')
  async handlerList(@Req() request: ConsoleRequest, @Res() reply: FastifyReply): Promise<void> {
    const viewer = viewerOf(request);
    const { items } = await this.handlers.list(viewer.caller, undefined, this.connected);
    sendPage(reply, 200, handlersPage(this.assets.urls, viewer, { items, at: new Date().toISOString() }));
  }

  @Get('actions/:id')
  async action(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const viewer = viewerOf(request);
    const action = await this.ledger.get(viewer.caller, id);
    const handler = await this.handlers.get(viewer.caller, action.handler_id, this.connected);
    sendPage(reply, 200, actionPage(this.assets.urls, viewer, { action, handler, at: new Date().toISOString() }));
  }
}

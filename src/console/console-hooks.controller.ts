import { Get, Param, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { validateDto } from '../common/validate-dto';
import { HookDecisionsService } from '../hooks/hook-decisions.service';
import { HookEndpointsService } from '../hooks/hook-endpoints.service';
import { ListDecisionsQueryDto, ListHooksQueryDto } from '../hooks/hooks.dto';
import { ConsoleAssets } from './console-assets.service';
import { ConsolePages } from './console-auth.guard';
import { chosenFilter, ConsoleRequest, queryText, sendPage } from './console-http';
import { viewerOf } from './console-viewer';
import { DECISION_FILTERS, DecisionFilter, decisionPage, decisionsPage, hookPage, hooksPage } from './views/hooks';

const HOOKS_PAGE_SIZE = 100;
const DECISIONS_PAGE_SIZE = 50;
const RECENT_DECISIONS = 20;

/** The decisions API's query for an outcome filter of the page. */
function outcomeQuery(filter: DecisionFilter): Record<string, string> {
  if (filter === 'approved') return { outcome: 'approved', policy_applied: 'false' };
  if (filter === 'vetoed') return { outcome: 'rejected', policy_applied: 'false' };
  if (filter === 'error') return { policy_applied: 'true' };
  return {};
}

/**
 * The console's approval-hook pages: the hook endpoints and the decision log, read through the
 * services of the hooks API (HookEndpointsService, HookDecisionsService) with the signed-in user as
 * the caller: the same scoping (another organization's hook or decision is 404) and validation.
 * Read-only: hooks are changed through the API and the CLI.
 */
@ConsolePages()
export class ConsoleHooksController {
  constructor(
    private readonly assets: ConsoleAssets,
    private readonly hooks: HookEndpointsService,
    private readonly decisions: HookDecisionsService,
  ) {}

  @Get('hooks')
  async list(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const before = queryText(query.before);
    const result = await this.hooks.list(viewer.caller, await validateDto(ListHooksQueryDto, { before, limit: String(HOOKS_PAGE_SIZE) }, 'query'));
    sendPage(reply, 200, hooksPage(this.assets.urls, viewer, { result, before, at: new Date().toISOString() }));
  }

  @Get('hooks/:id')
  async hook(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const viewer = viewerOf(request);
    const hook = await this.hooks.get(viewer.caller, id);
    const decisions = await this.decisions.list(
      viewer.caller,
      await validateDto(ListDecisionsQueryDto, { hook_id: hook.id, limit: String(RECENT_DECISIONS) }, 'query'),
      { count: false },
    );
    sendPage(reply, 200, hookPage(this.assets.urls, viewer, { hook, decisions, at: new Date().toISOString() }));
  }

  @Get('hook-decisions')
  async decisionLog(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Query() query: Record<string, unknown>): Promise<void> {
    const viewer = viewerOf(request);
    const filter = chosenFilter(DECISION_FILTERS, queryText(query.outcome) || 'all', 'outcome');
    // The filter form sends an empty operation for "All".
    const operation = queryText(query.operation) || undefined;
    const hookId = queryText(query.hook_id) || undefined;
    const before = queryText(query.before);
    const dto = await validateDto(
      ListDecisionsQueryDto,
      { operation, hook_id: hookId, before, limit: String(DECISIONS_PAGE_SIZE), ...outcomeQuery(filter) },
      'query',
    );
    const result = await this.decisions.list(viewer.caller, dto, { count: false });
    sendPage(reply, 200, decisionsPage(this.assets.urls, viewer, { result, filter, operation, hookId, before, at: new Date().toISOString() }));
  }

  @Get('hook-decisions/:id')
  async decision(@Req() request: ConsoleRequest, @Res() reply: FastifyReply, @Param('id') id: string): Promise<void> {
    const viewer = viewerOf(request);
    sendPage(reply, 200, decisionPage(this.assets.urls, viewer, await this.decisions.get(viewer.caller, id)));
  }
}

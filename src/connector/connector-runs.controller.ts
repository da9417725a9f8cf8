import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { CYBERAPP_AUTH_SCHEME } from '../openapi';
import { ListRunsQueryDto } from './connector-intake.dto';
import { ConnectorRunsService } from './connector-runs.service';
import { ConnectorRunPage } from './connector.views';

/**
 * The connector's runs (`connector_runs`): the vendor's global passes, readable by users of the
 * root organization only; for anyone else the list is 404, as if it did not exist.
 */
@ApiTags('connector')
@ApiSecurity(CYBERAPP_AUTH_SCHEME)
@ApiErrorResponses(400, 401, 429)
@Controller('api/connector/runs')
@UseGuards(CyberAppAuthGuard)
export class ConnectorRunsController {
  constructor(private readonly runs: ConnectorRunsService) {}

  @Get()
  @ApiOperation({
    summary: 'The connector runs, newest first (root organization only)',
    description: 'Each run with its trigger, status, start, end, duration and counts (sent, failed, skipped). `next_before` pages.',
  })
  @ApiOkResponse({ type: ConnectorRunPage })
  @ApiErrorResponses(404)
  list(@Query() query: ListRunsQueryDto, @Caller() caller: VerifiedCaller): Promise<ConnectorRunPage> {
    return this.runs.list(caller, query);
  }
}

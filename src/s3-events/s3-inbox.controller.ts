import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { NoBody } from '../common/no-body.pipe';
import { CYBERAPP_AUTH_SCHEME } from '../openapi';
import { S3InboxState } from './s3-inbox-record.entity';
import { S3InboxService } from './s3-inbox.service';
import { InboxPage, InboxRecordView } from './s3-events.views';

/** The inbox of object events under `/api/s3-events/inbox`: records with their action outcomes, and replay. */
@ApiTags('s3-events')
@ApiSecurity(CYBERAPP_AUTH_SCHEME)
@ApiErrorResponses(400, 401, 429)
@Controller('api/s3-events/inbox')
@UseGuards(CyberAppAuthGuard)
export class S3InboxController {
  constructor(private readonly inbox: S3InboxService) {}

  @Get()
  @ApiOperation({ summary: 'List inbox records, newest first', description: 'Filters: source_id, state, bucket; limit; page by key with before (or by offset).' })
  @ApiQuery({ name: 'source_id', required: false, description: 'Only this source' })
  @ApiQuery({ name: 'state', required: false, enum: S3InboxState })
  @ApiQuery({ name: 'bucket', required: false })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 500 (default 100)' })
  @ApiQuery({ name: 'before', required: false, description: 'The id of the last record of the previous page: the records after it, newest first. Not with offset.' })
  @ApiQuery({ name: 'offset', required: false, description: 'Records to skip (kept for older clients; prefer before, which stays right while records arrive)' })
  @ApiOkResponse({ type: InboxPage })
  @ApiErrorResponses(404)
  list(@Query() query: Record<string, unknown>, @Caller() caller: VerifiedCaller): Promise<InboxPage> {
    return this.inbox.list(caller, query);
  }

  @Get(':id')
  @ApiParam({ name: 'id', description: 'Inbox record id' })
  @ApiOkResponse({ type: InboxRecordView })
  @ApiErrorResponses(404)
  get(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<InboxRecordView> {
    return this.inbox.get(caller, id);
  }

  @Post(':id/replay')
  @HttpCode(202)
  @ApiOperation({ summary: 'Run a finished record again (every action of its source)' })
  @ApiParam({ name: 'id', description: 'Inbox record id' })
  @ApiAcceptedResponse({ type: InboxRecordView, description: 'The record, set pending again for the worker.' })
  @ApiErrorResponses(404, 409)
  replay(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<InboxRecordView> {
    return this.inbox.replay(caller, id);
  }
}

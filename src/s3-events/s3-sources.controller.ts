import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { NoBody } from '../common/no-body.pipe';
import { CYBERAPP_AUTH_SCHEME } from '../openapi';
import { assertSourceChanges, CreateSourceDto, UpdateSourceDto } from './s3-sources.dto';
import { S3SourcesService } from './s3-sources.service';
import { ConfirmationList, SourcePage, SourceView, SourceWithTokenView } from './s3-events.views';

/**
 * S3 event sources under `/api/s3-events/sources`, with the callbacks' credentials and the
 * caller's organization scope (as `/api/webhooks`): a foreign or unknown source answers 404, a
 * foreign `organization_id` 403. The path token is shown by create and rotate-token only; replicate
 * secret keys are never shown.
 */
@ApiTags('s3-events')
@ApiSecurity(CYBERAPP_AUTH_SCHEME)
@ApiErrorResponses(400, 401, 429)
@Controller('api/s3-events/sources')
@UseGuards(CyberAppAuthGuard)
export class S3SourcesController {
  constructor(private readonly sources: S3SourcesService) {}

  @Post()
  @ApiOperation({ summary: 'Create a source; the answer carries its token and intake path' })
  @ApiCreatedResponse({ type: SourceWithTokenView, description: 'Created; the only answer besides rotate-token that shows `token`.' })
  @ApiErrorResponses(403)
  create(@Body() body: CreateSourceDto, @Caller() caller: VerifiedCaller): Promise<SourceWithTokenView> {
    return this.sources.create(caller, body);
  }

  @Get()
  @ApiOperation({ summary: 'List visible sources, newest first', description: 'Filters: organization_id; limit; page by key with before (or by offset).' })
  @ApiQuery({ name: 'organization_id', required: false, description: 'Only this organization (yours or one below it)' })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 500 (default 100)' })
  @ApiQuery({ name: 'before', required: false, description: 'The id of the last source of the previous page: the sources after it, newest first. Not with offset.' })
  @ApiQuery({ name: 'offset', required: false, description: 'Sources to skip (kept for older clients; prefer before)' })
  @ApiOkResponse({ type: SourcePage })
  @ApiErrorResponses(403)
  list(@Query() query: Record<string, unknown>, @Caller() caller: VerifiedCaller): Promise<SourcePage> {
    return this.sources.list(caller, query);
  }

  @Get(':id')
  @ApiParam({ name: 'id', description: 'Source id' })
  @ApiOkResponse({ type: SourceView })
  @ApiErrorResponses(404)
  get(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<SourceView> {
    return this.sources.get(caller, id);
  }

  @Get(':id/confirmations')
  @ApiOperation({ summary: "The source's subscription confirmations, newest first", description: 'Each SubscriptionConfirmation the intake answered: bucket, TopicArn, its Timestamp, when. The newest 100 are kept; never the Token.' })
  @ApiParam({ name: 'id', description: 'Source id' })
  @ApiOkResponse({ type: ConfirmationList })
  @ApiErrorResponses(404)
  confirmations(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<ConfirmationList> {
    return this.sources.confirmations(caller, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change a source', description: 'Any field of create but organization_id; actions replace the whole list.' })
  @ApiParam({ name: 'id', description: 'Source id' })
  @ApiOkResponse({ type: SourceView })
  @ApiErrorResponses(404)
  update(@Param('id') id: string, @Body() body: UpdateSourceDto, @Caller() caller: VerifiedCaller): Promise<SourceView> {
    return this.sources.update(caller, id, assertSourceChanges(body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiParam({ name: 'id', description: 'Source id' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrorResponses(404)
  async remove(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<void> {
    await this.sources.remove(caller, id);
  }

  @Post(':id/rotate-token')
  @HttpCode(200)
  @ApiOperation({ summary: 'Replace the path token; the old one stops working at once' })
  @ApiParam({ name: 'id', description: 'Source id' })
  @ApiOkResponse({ type: SourceWithTokenView })
  @ApiErrorResponses(404)
  rotateToken(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<SourceWithTokenView> {
    return this.sources.rotateToken(caller, id);
  }
}

import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { validateApiBody } from '../common/validate-dto';
import { CYBERAPP_AUTH_SCHEME } from '../openapi';
import { AuditQueryService } from './audit-query.service';
import { ListAuditQueryDto } from './audit.dto';
import { AuditChain, AuditPage } from './audit.views';

/**
 * The audit trail (docs/audit.md) under `/api/audit`: the same credentials (`X-CyberApp-Auth`),
 * organization scope (the caller's organization and those below it) and error envelope as the
 * other management APIs. Read-only: the trail is append-only, and only the retention sweep deletes.
 * Unknown query parameters are a 400: a misspelt filter would otherwise widen the answer silently.
 */
@ApiTags('audit')
@ApiSecurity(CYBERAPP_AUTH_SCHEME)
@ApiErrorResponses(400, 401, 429)
@Controller('api/audit')
@UseGuards(CyberAppAuthGuard)
export class AuditController {
  constructor(private readonly audit: AuditQueryService) {}

  @Get()
  @ApiOperation({ summary: 'The audit trail, newest first, paged by key', description: 'Unknown query parameters are a 400.' })
  @ApiQuery({ type: ListAuditQueryDto })
  @ApiOkResponse({ type: AuditPage })
  @ApiErrorResponses(404)
  async list(@Query() query: unknown, @Caller() caller: VerifiedCaller): Promise<AuditPage> {
    return this.audit.list(caller, await validateApiBody(ListAuditQueryDto, query));
  }

  @Get(':id')
  @ApiOperation({ summary: 'A record with what caused it and what it caused' })
  @ApiParam({ name: 'id', description: 'Record id' })
  @ApiOkResponse({ type: AuditChain })
  @ApiErrorResponses(404)
  get(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<AuditChain> {
    return this.audit.get(caller, id);
  }
}

import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { NoBody } from '../common/no-body.pipe';
import { CYBERAPP_AUTH_SCHEME } from '../openapi';
import { ActionCatalogService } from './action-catalog.service';
import { ActionConnectionRegistry } from './action-connection-registry.service';
import { ActionHandlersService } from './action-handlers.service';
import { CreateApplicabilityDto, CreateCapabilityDto, CreateHandlerDto, OrganizationQueryDto, UpdateCapabilityDto } from './actions.dto';
import { ApplicabilityList, ApplicabilityView, CapabilityList, CapabilityView, HandlerList, HandlerView, HandlerWithTokenView } from './actions.views';

/**
 * Action configuration under `/api/actions/{capabilities,applicabilities,handlers}`, with the
 * callbacks' credentials and the caller's organization scope (as `/api/webhooks`). A handler's
 * token is answered once, by create; only its SHA-256 is stored. Capability and applicability
 * changes send `configChanged` to the organization's connected handlers.
 */
@ApiTags('actions')
@ApiSecurity(CYBERAPP_AUTH_SCHEME)
@ApiErrorResponses(400, 401, 429)
@Controller('api/actions')
@UseGuards(CyberAppAuthGuard)
export class ActionConfigController {
  private readonly connected = (id: string): boolean => this.connections.isConnected(id);

  constructor(
    private readonly catalog: ActionCatalogService,
    private readonly handlers: ActionHandlersService,
    private readonly connections: ActionConnectionRegistry,
  ) {}

  @Post('capabilities')
  @ApiOperation({ summary: 'Create a capability' })
  @ApiCreatedResponse({ type: CapabilityView })
  @ApiErrorResponses(403, 409)
  createCapability(@Body() body: CreateCapabilityDto, @Caller() caller: VerifiedCaller): Promise<CapabilityView> {
    return this.catalog.createCapability(caller, body);
  }

  @Get('capabilities')
  @ApiOperation({ summary: 'List capabilities' })
  @ApiOkResponse({ type: CapabilityList })
  listCapabilities(@Query() query: OrganizationQueryDto, @Caller() caller: VerifiedCaller): Promise<CapabilityList> {
    return this.catalog.listCapabilities(caller, query.organization_id);
  }

  @Get('capabilities/:id')
  @ApiOkResponse({ type: CapabilityView })
  @ApiErrorResponses(404)
  getCapability(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<CapabilityView> {
    return this.catalog.getCapability(caller, id);
  }

  @Patch('capabilities/:id')
  @ApiOperation({ summary: 'Change a capability (description, parameter names); the name stays' })
  @ApiOkResponse({ type: CapabilityView })
  @ApiErrorResponses(404)
  updateCapability(@Param('id') id: string, @Body() body: UpdateCapabilityDto, @Caller() caller: VerifiedCaller): Promise<CapabilityView> {
    return this.catalog.updateCapability(caller, id, body);
  }

  @Delete('capabilities/:id')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrorResponses(404)
  async removeCapability(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<void> {
    await this.catalog.removeCapability(caller, id);
  }

  @Post('applicabilities')
  @ApiOperation({ summary: 'Let a handler serve a capability' })
  @ApiCreatedResponse({ type: ApplicabilityView })
  @ApiErrorResponses(404, 409)
  createApplicability(@Body() body: CreateApplicabilityDto, @Caller() caller: VerifiedCaller): Promise<ApplicabilityView> {
    return this.catalog.createApplicability(caller, body);
  }

  @Get('applicabilities')
  @ApiOkResponse({ type: ApplicabilityList })
  listApplicabilities(@Query() query: OrganizationQueryDto, @Caller() caller: VerifiedCaller): Promise<ApplicabilityList> {
    return this.catalog.listApplicabilities(caller, query.organization_id);
  }

  @Delete('applicabilities/:id')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrorResponses(404)
  async removeApplicability(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<void> {
    await this.catalog.removeApplicability(caller, id);
  }

  @Post('handlers')
  @ApiOperation({ summary: 'Issue a handler credential', description: 'Answers the token once.' })
  @ApiCreatedResponse({ type: HandlerWithTokenView })
  @ApiErrorResponses(403, 409)
  createHandler(@Body() body: CreateHandlerDto, @Caller() caller: VerifiedCaller): Promise<HandlerWithTokenView> {
    return this.handlers.create(caller, body, this.connected);
  }

  @Get('handlers')
  @ApiOkResponse({ type: HandlerList })
  listHandlers(@Query() query: OrganizationQueryDto, @Caller() caller: VerifiedCaller): Promise<HandlerList> {
    return this.handlers.list(caller, query.organization_id, this.connected);
  }

  @Get('handlers/:id')
  @ApiOkResponse({ type: HandlerView })
  @ApiErrorResponses(404)
  getHandler(@Param('id') id: string, @Caller() caller: VerifiedCaller): Promise<HandlerView> {
    return this.handlers.get(caller, id, this.connected);
  }

  @Post('handlers/:id/revoke')
  @HttpCode(200)
  @ApiOperation({ summary: "Revoke a handler's token; its connections are closed" })
  @ApiOkResponse({ type: HandlerView })
  @ApiErrorResponses(404)
  revokeHandler(@Param('id') id: string, @Body(NoBody) _body: unknown, @Caller() caller: VerifiedCaller): Promise<HandlerView> {
    return this.handlers.revoke(caller, id, this.connected);
  }
}

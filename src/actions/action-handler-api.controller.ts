import { Controller, Get, Req, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { HANDLER_TOKEN_SCHEME } from '../openapi';
import { ActionCatalogService } from './action-catalog.service';
import { ApplicabilityList, CapabilityList } from './actions.views';
import { ActionHandler } from './action-handler.entity';
import { ActionHandlerTokenGuard, HandlerRequest } from './action-handler-token.guard';

/** HIRO's REST reads for action handlers, with the handler's own token as a bearer token. */
@ApiTags('actions')
@ApiSecurity(HANDLER_TOKEN_SCHEME)
@ApiErrorResponses(401)
@Controller('api/action/1.0')
@UseGuards(ActionHandlerTokenGuard)
export class ActionHandlerApiController {
  constructor(private readonly catalog: ActionCatalogService) {}

  @Get('capabilities')
  @ApiOperation({ summary: "The capabilities of the handler's organization" })
  @ApiOkResponse({ type: CapabilityList })
  capabilities(@Req() request: HandlerRequest): Promise<CapabilityList> {
    return this.catalog.capabilitiesForHandler(request.actionHandler as ActionHandler);
  }

  @Get('applicabilities')
  @ApiOperation({ summary: 'The capabilities this handler serves, with their extra parameters' })
  @ApiOkResponse({ type: ApplicabilityList })
  applicabilities(@Req() request: HandlerRequest): Promise<ApplicabilityList> {
    return this.catalog.applicabilitiesForHandler(request.actionHandler as ActionHandler);
  }
}

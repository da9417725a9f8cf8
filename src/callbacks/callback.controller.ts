import { Body, Controller, Headers, HttpCode, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiBody, ApiHeader, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { parseCyberAppExtra } from '../auth/cyberapp-auth.parser';
import { PlatformJwtGuard } from '../auth/platform-jwt.guard';
import { CYBERAPP_AUTH_SCHEME, PLATFORM_JWT_SCHEME } from '../openapi';
import { callbackAuditOf } from './callback-audit.hook';
import { ApiErrorResponses, CallbackRequestSchema, CallbackResponseSchema } from './callback-envelope.schema';
import { CallbackResponse, CallbackService } from './callback.service';

/** `POST /callback`: every callback of the API Callback Gateway, dispatched on `context.callback_id`. */
@ApiTags('callbacks')
@ApiSecurity({ [PLATFORM_JWT_SCHEME]: [], [CYBERAPP_AUTH_SCHEME]: [] })
@Controller('callback')
@UseGuards(PlatformJwtGuard, CyberAppAuthGuard)
export class CallbackController {
  constructor(private readonly callbacks: CallbackService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Every callback of the Acronis API Callback Gateway',
    description:
      'Dispatched on `context.callback_id` (`cti.a.p.acgw.callback.v1.x~…`, or `v2.0~…` for the mirroring callbacks). ' +
      "`type` must be the callback's request type. Checked in this order: platform JWT (when CALLBACK_JWT=required), " +
      '`X-CyberApp-Auth`, the envelope, the callback ID, the request type, the payload. Write callbacks answer a repeated ' +
      '`request_id` (24 h) with the stored response.',
  })
  @ApiHeader({ name: 'X-CyberApp-Extra', required: false, description: 'base64 JSON, vendor-defined (`e30=` when empty); parsed leniently.' })
  @ApiBody({ type: CallbackRequestSchema })
  @ApiOkResponse({ type: CallbackResponseSchema, description: 'The callback ran; `payload` omitted for no-content response types.' })
  @ApiErrorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503)
  handle(
    @Body() body: unknown,
    @Caller() caller: VerifiedCaller,
    @Headers('x-cyberapp-extra') extra: string | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<CallbackResponse> {
    return this.callbacks.dispatch(body, caller, parseCyberAppExtra(extra), callbackAuditOf(request, reply));
  }
}

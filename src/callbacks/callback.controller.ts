import { Body, Controller, Headers, HttpCode, Post, UseGuards } from '@nestjs/common';
import { Caller } from '../auth/caller.decorator';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { CyberAppAuthGuard } from '../auth/cyberapp-auth.guard';
import { parseCyberAppExtra } from '../auth/cyberapp-auth.parser';
import { PlatformJwtGuard } from '../auth/platform-jwt.guard';
import { CallbackResponse, CallbackService } from './callback.service';

/** `POST /callback`: every callback of the API Callback Gateway, dispatched on `context.callback_id`. */
@Controller('callback')
@UseGuards(PlatformJwtGuard, CyberAppAuthGuard)
export class CallbackController {
  constructor(private readonly callbacks: CallbackService) {}

  @Post()
  @HttpCode(200)
  handle(
    @Body() body: unknown,
    @Caller() caller: VerifiedCaller,
    @Headers('x-cyberapp-extra') extra: string | undefined,
  ): Promise<CallbackResponse> {
    return this.callbacks.dispatch(body, caller, parseCyberAppExtra(extra));
  }
}

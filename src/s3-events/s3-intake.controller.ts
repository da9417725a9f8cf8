import { Body, Controller, Get, Header, HttpCode, Param, Post } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiParam, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { IntakeAnswer, IntakeConfirmationAnswer, IntakeNotificationAnswer } from './s3-events.views';
import { S3IntakeService } from './s3-intake.service';

/**
 * What the bucket's notification service calls (docs/protocols.md, S3 bucket event intake): `POST /s3-events/<token>`, no
 * credentials but the unguessable path token; `GET /s3-events/ping` answers `Pong` like the
 * reference receiver's `/ping`. Both header spellings of the message type are accepted because
 * neither is read: the body decides.
 */
@ApiTags('s3-events')
@ApiExtraModels(IntakeConfirmationAnswer, IntakeNotificationAnswer)
@Controller('s3-events')
export class S3IntakeController {
  constructor(private readonly intake: S3IntakeService) {}

  @Get('ping')
  @Header('content-type', 'text/plain')
  @ApiOperation({ summary: 'Liveness, like the reference receiver: answers Pong (no credentials)' })
  ping(): string {
    return 'Pong';
  }

  @Post(':token')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Bucket notification intake',
    description:
      'A SubscriptionConfirmation is answered with {"signature"}; a Notification with Records is stored, then answered {"stored","duplicates"}. ' +
      'No credentials but the path token: 43 characters of base64url, shown when the source is created or its token rotated; ' +
      'an unknown token answers 404. JSON may come as text/plain (as AWS SNS sends it).',
  })
  @ApiParam({ name: 'token', description: "The source's path token: this route's only credential (masked in logs)" })
  @ApiOkResponse({ schema: { oneOf: [{ $ref: getSchemaPath(IntakeConfirmationAnswer) }, { $ref: getSchemaPath(IntakeNotificationAnswer) }] } })
  @ApiErrorResponses(400, 403, 404, 409, 413, 415)
  receive(@Param('token') token: string, @Body() body: unknown): Promise<IntakeAnswer> {
    return this.intake.receive(token, body);
  }
}

import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';

/** The sample's liveness route. */
@ApiTags('operations')
@Controller()
export class AppController {
  @Get()
  @Header('content-type', 'text/plain')
  @ApiOperation({ summary: "The Python sample's greeting (no credentials)" })
  @ApiProduces('text/plain')
  @ApiOkResponse({ content: { 'text/plain': { schema: { type: 'string', example: 'Hello there! Send POST requests to the /callback endpoint.' } } } })
  index(): string {
    return 'Hello there! Send POST requests to the /callback endpoint.';
  }
}

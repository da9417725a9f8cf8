import { Controller, Get, Header } from '@nestjs/common';

/** The sample's liveness route. */
@Controller()
export class AppController {
  @Get()
  @Header('content-type', 'text/plain')
  index(): string {
    return 'Hello there! Send POST requests to the /callback endpoint.';
  }
}

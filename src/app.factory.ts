import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { DomainError, ErrorCode } from './common/domain-error';
import { ProtocolExceptionFilter } from './common/protocol-exception.filter';
import { appConfig } from './config/app.config';
import { authConfig, AuthConfig } from './config/auth.config';
import { requestIdOf } from './config/logger.options';

const JSON_TYPE = /^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i;

export interface CreateAppOptions {
  /** Buffer Nest's boot logs until pino is ready (default true). */
  bufferLogs?: boolean;
}

/**
 * Builds the Fastify-based application exactly as `main.ts` runs it: adapter options (body limit,
 * proxy trust, TLS) from validated config, pino logs, the protocol's error envelope for every
 * error including Fastify's own (bad JSON, wrong content type, oversize body). Tests use it too.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const config = appConfig();
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    ...(config.tls ? { https: { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) } } : {}),
    genReqId: (req: { headers: IncomingHttpHeaders }) => requestIdOf(req),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(), adapter, {
    bufferLogs: options.bufferLogs ?? true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  if (app.get<AuthConfig>(authConfig.KEY).jwt.mode === 'off') {
    app.get(Logger).warn('CALLBACK_JWT=off: callbacks are accepted without the platform JWT. Set CALLBACK_JWT=required in production.');
  }
  app.useGlobalFilters(new ProtocolExceptionFilter());
  app.enableShutdownHooks();

  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', async (request, reply) => {
    (request.raw as IncomingMessage & { id?: string }).id = request.id;
    void reply.header('x-request-id', request.id);
    // Every body this service takes is JSON; anything else is refused before it is parsed.
    const hasBody = request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0';
    if ((hasBody || request.headers['transfer-encoding'] !== undefined) && !JSON_TYPE.test(request.headers['content-type'] ?? '')) {
      throw new DomainError(ErrorCode.UnsupportedMediaType, 'Content-Type must be application/json.');
    }
  });
  return app;
}

import { Logger as NestLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { readFileSync } from 'node:fs';
import { Server as NetServer } from 'node:net';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { DomainError, ErrorCode } from './common/domain-error';
import { drainRequestBody } from './common/drain-request';
import { inspectJson } from './common/json-guard';
import { ProtocolExceptionFilter, sendError } from './common/protocol-exception.filter';
import { appConfig } from './config/app.config';
import { auditConfig } from './config/audit.config';
import { consoleConfig } from './config/console.config';
import { loadEnvFile } from './config/env-file';
import { authConfig, AuthConfig } from './config/auth.config';
import { callbacksConfig } from './config/callbacks.config';
import { webhooksConfig } from './config/webhooks.config';
import { hooksConfig } from './config/hooks.config';
import { s3EventsConfig } from './config/s3-events.config';
import { actionsConfig } from './config/actions.config';
import { metricsConfig } from './config/metrics.config';
import { openApiConfig } from './config/openapi.config';
import { readDatabaseConfig } from './config/database.config';
import { logFormat, requestIdOf } from './config/logger.options';
import { waitForDatabase } from './database/wait-for-database';
import { BootError } from './common/boot-error';
import { ServiceLogger } from './common/service-logger';
import { setupOpenApi } from './openapi';

/** Logs what the router refuses only if it is unexpected (a 5xx); see frameworkErrors below. */
const routerLogger = new NestLogger('Router');
const JSON_TYPE = /^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i;
const TEXT_TYPE = /^text\/plain\s*(;|$)/i;
const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(;|$)/i;
/** The S3 notification intake (S3EventsModule), whose callers may send JSON as text/plain. */
const S3_INTAKE_PREFIX = '/s3-events/';
/** The operator console (ConsoleModule), whose pages post HTML forms. */
const CONSOLE_PREFIX = '/console/';

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
  loadEnvFile();
  // Every slice is validated here, before Nest starts, so a bad value ends in one clean message.
  const config = appConfig();
  const database = readDatabaseConfig();
  authConfig();
  callbacksConfig();
  webhooksConfig();
  hooksConfig();
  s3EventsConfig();
  actionsConfig();
  metricsConfig();
  consoleConfig();
  auditConfig();
  const openApi = openApiConfig();
  const https = config.tls ? { cert: readTlsFile('TLS_CERT_FILE', config.tls.certFile), key: readTlsFile('TLS_KEY_FILE', config.tls.keyFile) } : undefined;
  // A database that does not answer ends the boot after DATABASE_CONNECT_TIMEOUT_MS, in one line.
  await waitForDatabase(database);
  const adapter = tlsChecked(config.tls, () =>
    new FastifyAdapter({
      bodyLimit: config.bodyLimit,
      trustProxy: config.trustProxy,
      ...(https ? { https } : {}),
      genReqId: (req: { headers: IncomingHttpHeaders }) => requestIdOf(req),
      // Requests arriving while closing get a 503 in the protocol's envelope (onRequest below).
      return503OnClosing: false,
      forceCloseConnections: 'idle',
      // The router's own refusals (a badly percent-encoded path, an overlong path segment) answer in
      // the protocol's envelope too; they come before any hook, hence the request id here.
      frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
        void reply.header('x-request-id', request.id);
        sendError(reply, request, error, routerLogger);
      },
    }),
  );
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(), adapter, {
    bufferLogs: options.bufferLogs ?? true,
    abortOnError: false,
  });
  const logger = app.get(Logger);
  app.useLogger(new ServiceLogger(logger));
  const notice = logFormat(config).notice;
  if (notice) logger.warn(notice);
  if (app.get<AuthConfig>(authConfig.KEY).jwt.mode === 'off') {
    logger.warn('CALLBACK_JWT=off: callbacks are accepted without the platform JWT. Set CALLBACK_JWT=required in production.');
  }
  app.useGlobalFilters(new ProtocolExceptionFilter());
  if (openApi.enabled) setupOpenApi(app);
  // SIGTERM/SIGINT are main.ts's: it logs the shutdown, closes the application and exits.

  const fastify = app.getHttpAdapter().getInstance();
  // server.close() only drops the connections idle at that moment: a kept-alive connection whose
  // request is still running would stay open for keepAliveTimeout (72 s) after its answer and hold
  // the shutdown. From the start of the close, every answer ends its connection.
  // Dropping idle kept-alive connections races with clients sending their next request on them (a
  // reset), and so does dropping a connection just accepted. So the close first stops accepting
  // (new connections are refused: nothing was sent, a client or proxy retries elsewhere), then,
  // for up to SHUTDOWN_DRAIN_MS, lets the open connections finish: every answer now ends its
  // connection and a new request on one gets 503.
  let closing = false;
  fastify.addHook('preClose', async () => {
    closing = true;
    // net.Server's close stops listening only (http.Server's also drops idle connections, the race
    // this avoids). Fastify closes the server again afterwards and ignores that it is already closed.
    NetServer.prototype.close.call(fastify.server);
    const deadline = Date.now() + config.shutdownDrainMs;
    while (Date.now() < deadline && (await openConnections(fastify.server)) > 0) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  });
  // Hooks on every request are callback-style: an async hook costs each answer a promise and a tick.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    // An answer before the body was read (413, 415, 404…) reaches a client still writing it only
    // if the rest is read first: closing on unread data resets the connection under the client.
    if (request.raw.complete) return done(null, payload);
    drainRequestBody(request.raw, config.bodyDrainLimit).then(
      () => done(null, payload),
      (error: Error) => done(error),
    );
  });
  // S3 bucket notifiers post JSON but may label it text/plain (AWS SNS does; VK's docs do not say):
  // the S3 intake route takes that too, parsed as JSON. Every other route refuses it (below).
  fastify.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new DomainError(ErrorCode.MalformedRequest, 'Body is not valid JSON.'), undefined);
    }
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    (request.raw as IncomingMessage & { id?: string }).id = request.id;
    void reply.header('x-request-id', request.id);
    if (closing) return done(new DomainError(ErrorCode.Unavailable, 'The service is shutting down.'));
    // Every body this service takes is JSON, and the console's forms (Nest's urlencoded parser; a
    // repeated field becomes an array, which the console reads as absent); anything else is refused before it is parsed.
    const hasBody = request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0';
    const type = request.headers['content-type'] ?? '';
    const accepted =
      JSON_TYPE.test(type) ||
      (TEXT_TYPE.test(type) && request.url.startsWith(S3_INTAKE_PREFIX)) ||
      (FORM_TYPE.test(type) && request.url.startsWith(CONSOLE_PREFIX));
    if ((hasBody || request.headers['transfer-encoding'] !== undefined) && !accepted) {
      return done(new DomainError(ErrorCode.UnsupportedMediaType, 'Content-Type must be application/json.'));
    }
    done();
  });
  // After parsing, before any guard or handler: bodies too deep to walk safely, or with NULs.
  fastify.addHook('preValidation', (request, _reply, done) => {
    const problem = request.body === undefined ? null : inspectJson(request.body);
    done(problem ? new DomainError(ErrorCode.MalformedRequest, problem) : undefined);
  });
  return app;
}

/** A TLS file's contents, or a BootError naming its variable, its path and what is wrong. */
function readTlsFile(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'a directory, not a file' : message;
    throw new BootError(`${variable}=${path}: cannot read the file (${why})`);
  }
}

/** Runs `build` (the HTTPS server is created there); a certificate or key it cannot use becomes a BootError. */
function tlsChecked<T>(tls: { certFile: string; keyFile: string } | undefined, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (!tls) throw error;
    throw new BootError(`TLS_CERT_FILE=${tls.certFile} / TLS_KEY_FILE=${tls.keyFile}: not a usable certificate and key (${(error as Error).message})`);
  }
}

function openConnections(server: { getConnections(callback: (error: Error | null, count: number) => void): void }): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
}

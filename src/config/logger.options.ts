import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { AppConfig } from './app.config';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A trusted upstream's X-Request-Id is kept (so a proxy's id follows the request), else a new one. */
export function requestIdOf(req: { headers: IncomingHttpHeaders }): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}

/** The S3 intake's path token is its caller's only credential (stored as a hash): never in a log line. */
const S3_INTAKE_TOKEN = /^(\/s3-events\/)(?!ping(?:[?#]|$))[^/?#]+/;

/** A request's URL as logged: credentials carried in the path are masked. */
export function loggedUrl(url: string): string {
  return url.replace(S3_INTAKE_TOKEN, '$1[redacted]');
}

/** pino via nestjs-pino: one line per request with its id; credentials and secrets redacted. */
export function loggerOptions(app: AppConfig): Params {
  return {
    pinoHttp: {
      level: app.logLevel,
      // Fastify assigns the id (see app.factory.ts) and copies it onto the raw request.
      genReqId: (req) => (req as IncomingMessage & { id?: string }).id ?? requestIdOf(req),
      redact: {
        paths: [
          'req.headers["x-cyberapp-auth"]',
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["sec-websocket-protocol"]',
          'res.headers["set-cookie"]',
          '*.password',
          '*.secret',
        ],
        censor: '[redacted]',
      },
      // pino-http hands this the standard serialization of the request.
      serializers: { req: (req: { url?: string }) => (typeof req.url === 'string' ? { ...req, url: loggedUrl(req.url) } : req) },
      transport: app.logPretty ? { target: 'pino-pretty', options: { singleLine: true } } : undefined,
      autoLogging: { ignore: (req) => req.url === '/health/live' },
    },
  };
}

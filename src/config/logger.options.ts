import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';
import pino, { type Logger as PinoInstance, type LoggerOptions, type TransportSingleOptions } from 'pino';
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

export interface LogFormat {
  pretty: boolean;
  /** Why the format is not the one asked for (LOG_PRETTY=true without pino-pretty installed). */
  notice?: string;
}

/** Whether pino-pretty (a devDependency: absent from a production install) can be loaded. */
function prettyInstalled(): boolean {
  try {
    require.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * JSON lines, or human-readable ones (pino-pretty): LOG_PRETTY decides when set; unset, pretty
 * when stdout is a terminal and NODE_ENV is not production. Pretty needs pino-pretty installed;
 * without it the logs stay JSON.
 */
export function logFormat(app: Pick<AppConfig, 'logPretty' | 'nodeEnv'>, stdoutIsTTY = process.stdout.isTTY === true, installed = prettyInstalled): LogFormat {
  const wanted = app.logPretty ?? (stdoutIsTTY && app.nodeEnv !== 'production');
  if (!wanted) return { pretty: false };
  if (installed()) return { pretty: true };
  return {
    pretty: false,
    notice: app.logPretty ? 'LOG_PRETTY=true but pino-pretty is not installed (a development dependency): logging JSON lines' : undefined,
  };
}

/** One line per entry: time, level, [Nest context], the request (method, URL, status), message. */
const PRETTY: TransportSingleOptions = {
  target: 'pino-pretty',
  options: {
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // Fields the message says already (the request, the listening address, the shutdown's figures).
    ignore: 'pid,hostname,context,req,res,responseTime,url,docs,signal,durationMs',
    messageFormat:
      '{if context}[{context}] {end}{if req.method}{req.method} {req.url} {end}{if res.statusCode}→ {res.statusCode} {end}{msg}' +
      '{if responseTime} ({responseTime} ms){end}{if req.id} req={req.id}{end}',
  },
};

/** What every logger of the service shares: level and format. */
function baseOptions(app: AppConfig): Pick<LoggerOptions, 'level' | 'transport'> {
  return { level: app.logLevel, transport: logFormat(app).pretty ? PRETTY : undefined };
}

/** pino via nestjs-pino: one line per request with its id; credentials and secrets redacted. */
export function loggerOptions(app: AppConfig): Params {
  return {
    pinoHttp: {
      ...baseOptions(app),
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
      autoLogging: { ignore: (req) => req.url === '/health/live' },
    },
  };
}

/** A logger in the service's format for what main.ts says before the application exists. */
export function standaloneLogger(app: AppConfig): PinoInstance {
  return pino(baseOptions(app));
}

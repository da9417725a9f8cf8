import type { LoggerService } from '@nestjs/common';

/** Nest's boot chatter, one line per module and route: at debug, not info. */
const CHATTY_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer']);
/** Said before the service listens (main.ts says where it listens, or why it cannot). */
const PREMATURE = 'Nest application successfully started';

/** The Nest context of a log call: its last argument, when a string. */
function contextOf(params: unknown[]): unknown {
  return params.length > 0 ? params[params.length - 1] : undefined;
}

/**
 * Nest's logger for the service (the pino one, nestjs-pino) with Nest's own lines at the level
 * they deserve: route mapping and module loading at debug; "successfully started", which Nest
 * says before listening, at debug too, as is its line for a failed listen (main.ts logs the
 * listening address, or the failure with what to do about it).
 */
export class ServiceLogger implements LoggerService {
  constructor(private readonly inner: LoggerService) {}

  log(message: unknown, ...params: unknown[]): void {
    const context = contextOf(params);
    const chatter = (typeof context === 'string' && CHATTY_CONTEXTS.has(context)) || (context === 'NestApplication' && message === PREMATURE);
    if (chatter) this.debug(message, ...params);
    else this.inner.log(message, ...params);
  }

  error(message: unknown, ...params: unknown[]): void {
    if (contextOf(params) === 'NestApplication' && typeof message === 'string' && message.startsWith('Error: listen ')) this.debug(message, ...params);
    else this.inner.error(message, ...params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.inner.warn(message, ...params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.inner.debug?.(message, ...params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.inner.verbose?.(message, ...params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    (this.inner.fatal ?? this.inner.error).call(this.inner, message, ...params);
  }
}

import 'reflect-metadata';
import type { LoggerService } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import { Logger } from 'nestjs-pino';
import { createApp } from './app.factory';
import { BootError } from './common/boot-error';
import { appConfig, type AppConfig } from './config/app.config';
import { standaloneLogger } from './config/logger.options';
import { openApiConfig } from './config/openapi.config';
import { ConfigError } from './config/validate-config';

const CONTEXT = 'Main';
/** The signals that stop the service cleanly (what Docker, systemd, Kubernetes and Ctrl-C send). */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const config = appConfig();
  const logger = app.get(Logger);
  stopOnSignals(app, logger, config.shutdownTimeoutMs);
  try {
    await app.listen(config.port, config.host);
  } catch (error) {
    throw listenFailure(error, config);
  }
  const { address, port } = app.getHttpServer().address() as AddressInfo;
  const host = WILDCARD_HOSTS.has(config.host) ? 'localhost' : address.includes(':') ? `[${address}]` : address;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${port}`;
  const docs = openApiConfig().enabled ? `${url}/api/docs` : undefined;
  const where = WILDCARD_HOSTS.has(config.host) ? ` (all interfaces, HOST=${config.host})` : '';
  const msg = `Listening on ${url}${where}; ${docs ? `OpenAPI docs at ${docs}` : 'OpenAPI docs off (OPENAPI_ENABLED=false)'}`;
  logger.log({ url, docs, msg }, CONTEXT);
}

/** What a failed listen means, and what to do about it, as a BootError; other errors as they are. */
function listenFailure(error: unknown, config: AppConfig): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  const at = `${config.host}:${config.port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new BootError(`Cannot listen on ${at}: the address is already in use (EADDRINUSE). Stop the process listening there, or set PORT to a free port.`);
    case 'EACCES':
      return new BootError(`Cannot listen on ${at}: permission denied (EACCES). Ports below 1024 need privileges: set PORT to 1024 or above.`);
    case 'EADDRNOTAVAIL':
      return new BootError(`Cannot listen on ${at}: HOST=${config.host} is not an address of this machine (EADDRNOTAVAIL). Set HOST (0.0.0.0: every interface).`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new BootError(`Cannot listen on ${at}: HOST=${config.host} does not resolve (${code}). Set HOST to an address of this machine.`);
    default:
      return error;
  }
}

/**
 * SIGTERM, SIGINT or SIGHUP: one line when the shutdown starts, one when it is done (with its
 * duration), exit 0. app.close() lets the requests and jobs in flight finish (see the preClose hook
 * in app.factory.ts and the workers' shutdown hooks); one that hangs must not keep the process
 * alive forever: after SHUTDOWN_TIMEOUT_MS it exits 1. Another signal meanwhile changes nothing.
 */
function stopOnSignals(app: NestFastifyApplication, logger: LoggerService, timeoutMs: number): void {
  let startedAt: number | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    if (startedAt !== undefined) return;
    const started = Date.now();
    startedAt = started;
    logger.log({ signal, msg: `Shutdown started (${signal}): finishing the requests and jobs in flight, for at most SHUTDOWN_TIMEOUT_MS=${timeoutMs} ms` }, CONTEXT);
    // Not unref'd: it also keeps the process alive until close() is done (some shutdown hooks wait
    // on unref'd timers and workers; without it the process could end silently half-way).
    setTimeout(() => {
      logger.error(`Shutdown still running after SHUTDOWN_TIMEOUT_MS=${timeoutMs} ms: exiting anyway`, CONTEXT);
      process.exit(1);
    }, timeoutMs);
    app.close().then(
      () => {
        const durationMs = Date.now() - started;
        logger.log({ durationMs, msg: `Shutdown finished in ${durationMs} ms` }, CONTEXT);
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error, msg: `Shutdown failed after ${Date.now() - started} ms: ${error instanceof Error ? error.message : String(error)}` }, CONTEXT);
        process.exit(1);
      },
    );
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
}

/**
 * One line saying why the service stops, then exit 1. A bad variable is printed as it is on
 * stderr (the logger's own settings may be among them); anything else is a log line in the
 * service's format: a BootError's message alone, another error with its stack.
 */
bootstrap().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  let config: AppConfig | undefined;
  try {
    config = error instanceof ConfigError ? undefined : appConfig();
  } catch {
    config = undefined;
  }
  if (!config) {
    console.error(message);
    process.exit(1);
  }
  const logger = standaloneLogger(config);
  if (error instanceof BootError) logger.fatal({ context: CONTEXT }, message);
  else logger.fatal({ context: CONTEXT, err: error }, `The service could not start: ${message}`);
  process.exit(1);
});

import 'reflect-metadata';
import { createApp } from './app.factory';
import { appConfig } from './config/app.config';

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const { port, host, shutdownTimeoutMs } = appConfig();
  // Nest's shutdown hooks (app.factory.ts) let the requests in flight finish; one that hangs
  // must not keep the process alive forever.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        console.error(`Shutdown still running after SHUTDOWN_TIMEOUT_MS=${shutdownTimeoutMs}: exiting anyway`);
        process.exit(1);
      }, shutdownTimeoutMs).unref();
    });
  }
  await app.listen(port, host);
}

bootstrap().catch((error: unknown) => {
  // The logger may not exist yet (e.g. invalid configuration): say why on stderr and stop.
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

import 'reflect-metadata';
import { createApp } from './app.factory';
import { appConfig } from './config/app.config';

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const { port, host } = appConfig();
  await app.listen(port, host);
}

bootstrap().catch((error: unknown) => {
  // The logger may not exist yet (e.g. invalid configuration): say why on stderr and stop.
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

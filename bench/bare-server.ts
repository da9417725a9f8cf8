/**
 * The same-run baselines: a bare Fastify server (no Nest, no database, no logging, no
 * validation), started as a child of the bench; reports its port over IPC.
 *
 * - `GET /` answers a small JSON body: the least a Fastify route costs (the baseline).
 * - `POST /callback` does the same I/O as the gateway's users_read: Fastify parses the JSON
 *   request envelope, and the answer is the users_read response envelope (request_id echoed, a
 *   fresh response_id) with the 50 users of the seed, from a list built once at start-up.
 *   What the gateway does on top of this (auth, envelope validation, routing, the query) is what
 *   the ratio to this route measures.
 */
import Fastify from 'fastify';
import { randomUUID } from 'node:crypto';
import { APP_CODE, responseType } from '../test/setup/protocol';
import { benchUsers } from './bench-users';

const USERS_READ_SUCCESS = responseType(`${APP_CODE}.users_read_success.v1.0`);

async function main(): Promise<void> {
  const app = Fastify({ logger: false });
  app.get('/', () => ({ hello: 'world' }));

  const items = benchUsers();
  app.post('/callback', (request) => {
    const body = request.body as { request_id?: unknown } | null;
    return { type: USERS_READ_SUCCESS, request_id: body?.request_id, response_id: randomUUID(), payload: { items } };
  });

  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('bare server: no TCP address');
  process.send?.({ port: address.port });
  // The parent's end of the IPC channel closing means the bench is gone: stop with it.
  process.on('disconnect', () => void app.close().finally(() => process.exit(0)));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

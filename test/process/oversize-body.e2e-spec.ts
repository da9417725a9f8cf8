import { request } from 'node:http';
import type { DataSource } from 'typeorm';
import { createTree } from '../factories/organizations';
import { errorEnvelope } from '../setup/callback-client';
import { cyberAppAuth, envelope } from '../setup/protocol';
import { snapshot } from '../setup/snapshot';
import { createTestDatabase, TestDatabase } from '../setup/test-database';
import { freePort, killAllServices, openServiceDatabase, SERVICE_ENV, ServiceProcess } from './service-process';

jest.setTimeout(120_000);

const BODY_LIMIT = 1024 * 1024;
const OVERSIZE = 2 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** The answer, or the error the client saw instead; `sent`: the body bytes written by then. */
type Outcome = ({ status: number; body: string } | { error: string }) & { sent: number };

/**
 * POSTs `size` bytes of JSON from a plain Node client, 64 KiB at a time with a pause after each
 * write (a client still writing when the server has made up its mind), until the answer comes, with a Content-Length or
 * chunked. Resolves with the answer, or with the error the client saw instead (EPIPE, ECONNRESET).
 */
function postSlowly(port: number, path: string, headers: Record<string, string>, size: number, chunked: boolean): Promise<Outcome> {
  const prefix = Buffer.from(JSON.stringify(envelope('user_write', { login: 'oversize', name: 'x', email: 'o@example.test' })).slice(0, -1) + ',"padding":"');
  const suffix = Buffer.from('"}');
  const padding = size - prefix.length - suffix.length;
  return new Promise((done) => {
    let settled = false;
    let sent = 0;
    const settle = (outcome: { status: number; body: string } | { error: string }): void => {
      if (!settled) done({ ...outcome, sent });
      settled = true;
    };
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        agent: false,
        headers: { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': String(size) }), ...headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => settle({ status: res.statusCode ?? 0, body }));
        res.on('error', (error: NodeJS.ErrnoException) => settle({ error: `${error.code ?? error.message} (while reading the answer)` }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => settle({ error: error.code ?? error.message }));
    const write = (data: Buffer): Promise<void> =>
      new Promise((written) => {
        sent += data.length;
        if (req.write(data)) setTimeout(written, 1);
        else req.once('drain', written);
      });
    void (async () => {
      await write(prefix);
      for (let at = 0; at < padding && !req.destroyed && !settled; at += CHUNK) await write(Buffer.alloc(Math.min(CHUNK, padding - at), 'x'));
      if (!req.destroyed && !settled) req.end(suffix);
    })();
  });
}

/**
 * A body over BODY_LIMIT_BYTES is answered 413 in the protocol's envelope, and the client gets
 * that answer even while it is still writing the rest: the service reads and discards the rest
 * (up to BODY_DRAIN_LIMIT_BYTES) before it closes the connection, instead of resetting it under
 * the client (EPIPE/ECONNRESET, no answer at all). Nothing is stored. The service runs in its own
 * process: within the test's own event loop, the client never outran the server.
 */
describe('an oversize body gets its 413 (the service process)', () => {
  let db: TestDatabase;
  let service: ServiceProcess;
  let ds: DataSource;
  let auth: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    service = ServiceProcess.start({ ...SERVICE_ENV, ...db.env, PORT: String(await freePort()), LOG_LEVEL: 'warn', BODY_LIMIT_BYTES: String(BODY_LIMIT) });
    await service.waitUntilListening();
    ds = await openServiceDatabase(db.env);
    const tree = await createTree(ds);
    auth = cyberAppAuth('partner', tree.password);
  });

  afterAll(async () => {
    await ds?.destroy();
    await killAllServices();
    await db.drop();
  });

  it.each([
    ['/callback', false],
    ['/api/webhooks', false],
    ['/callback', true],
    ['/api/webhooks', true],
  ])('%s: 50 bodies of 2 MiB (chunked: %s) get 50 answers 413 PAYLOAD_TOO_LARGE, nothing stored', async (path, chunked) => {
    const before = await snapshot(ds);
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 50; i++) outcomes.push(await postSlowly(service.port ?? 0, path, { 'x-cyberapp-auth': auth }, OVERSIZE, chunked));

    const summary = outcomes.map((o) => ('error' in o ? o.error : o.status));
    expect(summary).toEqual(Array(50).fill(413));
    for (const o of outcomes) {
      if ('body' in o) expect(JSON.parse(o.body)).toMatchObject(errorEnvelope('PAYLOAD_TOO_LARGE'));
    }
    expect(await snapshot(ds)).toEqual(before);
  });

  it('stops reading a body that goes on past BODY_DRAIN_LIMIT_BYTES (8 MiB by default), answers and closes', async () => {
    // Up to 1 GiB, chunked: were the service to read it all before answering, the client would
    // send it all; it stops after its 1 MiB limit and 8 MiB of drain.
    const outcome = await postSlowly(service.port ?? 0, '/callback', {}, 1024 * 1024 * 1024, true);
    expect('error' in outcome || outcome.status === 413).toBe(true);
    expect(outcome.sent).toBeLessThan(64 * 1024 * 1024);
  });
});

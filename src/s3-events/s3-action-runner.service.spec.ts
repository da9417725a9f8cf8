import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import type { S3EventsConfig } from '../config/s3-events.config';
import { ActionTarget, S3ActionRunner } from './s3-action-runner.service';
import { S3Operation, S3ReplicateAction } from './s3-action.types';

const config = (overrides: Partial<S3EventsConfig> = {}): S3EventsConfig =>
  ({
    commandDieWithWorker: false,
    actionTimeoutMs: 5000,
    outputLimit: 4096,
    replicateMaxBytes: 1024,
    allowedCommands: [],
    allowedPrivate: [],
    ...overrides,
  }) as S3EventsConfig;

const target: ActionTarget = { recordId: 'r1', bucket: 'photos', key: 'cat.jpg', operation: S3Operation.Copy, eventName: 's3:ObjectCreated:Put', sequencer: '1', etag: null };

describe('S3ActionRunner', () => {
  let server: Server;
  let port: number;
  let requests: number;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.statusCode = 500;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => (requests = 0));

  const replicate = (endpoint: string): S3ReplicateAction => ({
    type: 'replicate',
    endpoint,
    region: 'us-east-1',
    access_key_id: 'key',
    secret_access_key: 'secret',
    force_path_style: true,
    bucket: 'backup',
  });

  it('refuses at run time a replicate endpoint whose host name now resolves to a private address (DNS rebinding), without connecting', async () => {
    const runner = new S3ActionRunner(config());
    const result = await runner.run(replicate(`http://localhost:${port}`), target);
    expect(result.success).toBe(false);
    expect(result.error).toMatch(/private, loopback or link-local.*S3_EVENTS_ALLOWED_PRIVATE/);
    expect(requests).toBe(0);
  });

  it('refuses at run time a replicate endpoint on a private address literal that S3_EVENTS_ALLOWED_PRIVATE no longer allows', async () => {
    const runner = new S3ActionRunner(config());
    const result = await runner.run({ ...replicate('http://8.8.8.8:9'), source: replicate(`http://127.0.0.1:${port}`) }, target);
    expect(result.success).toBe(false);
    expect(result.error).toMatch(/127\.0\.0\.1 is private, loopback or link-local/);
    expect(requests).toBe(0);
  });

  it('connects to an allowed private endpoint', async () => {
    const runner = new S3ActionRunner(config({ allowedPrivate: ['127.0.0.1/8'] }));
    const result = await runner.run(replicate(`http://localhost:${port}`), target);
    expect(result.success).toBe(false);
    expect(requests).toBe(1);
  });

  it('refuses at run time a command whose executable is no longer in S3_EVENTS_ALLOWED_COMMANDS, without running it', async () => {
    const runner = new S3ActionRunner(config({ allowedCommands: ['/usr/bin/true'] }));
    try {
      const result = await runner.run({ type: 'command', command: ['/bin/sh', '-c', 'echo ran'] }, target);
      expect(result).toMatchObject({ success: false, exitCode: null, stdout: null });
      expect(result.error).toMatch(/S3_EVENTS_ALLOWED_COMMANDS/);
    } finally {
      runner.onApplicationShutdown();
    }
  });
});

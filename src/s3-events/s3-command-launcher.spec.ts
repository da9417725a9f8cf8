import { CommandLauncher } from './s3-command-launcher';

describe('CommandLauncher', () => {
  const env = { PATH: process.env.PATH ?? '' };
  let launcher: CommandLauncher;

  beforeEach(() => (launcher = new CommandLauncher()));
  afterEach(() => launcher.stop());

  it('answers a command it cannot start (a NUL byte in an argument) with spawnError, and keeps running the others', async () => {
    const slow = launcher.run({ file: '/bin/sh', args: ['-c', 'sleep 0.5; echo ok'], env, timeoutMs: 5000, limit: 100 });
    await new Promise((resolve) => setTimeout(resolve, 100));

    const bad = await launcher.run({ file: '/bin/sh', args: ['-c', 'echo never', 'object\u0000key'], env, timeoutMs: 5000, limit: 100 });
    expect(bad.spawnError).toMatch(/null bytes/);
    expect(bad.code).toBeNull();

    expect(await slow).toMatchObject({ code: 0, spawnError: null, stdout: 'ok\n' });
  });

  it('answers a command whose environment holds a NUL byte with spawnError', async () => {
    const bad = await launcher.run({ file: '/bin/sh', args: ['-c', 'echo never'], env: { ...env, S3_EVENT_KEY: 'a\u0000b' }, timeoutMs: 5000, limit: 100 });
    expect(bad.spawnError).toMatch(/null bytes/);
    const next = await launcher.run({ file: '/bin/sh', args: ['-c', 'echo fine'], env, timeoutMs: 5000, limit: 100 });
    expect(next).toMatchObject({ code: 0, stdout: 'fine\n' });
  });
});

describe('CommandLauncher when its helper process is gone', () => {
  it('answers a command sent while the helper is exiting with spawnError instead of an unhandled error, then starts a new helper', async () => {
    const launcher = new CommandLauncher();
    const env = { PATH: process.env.PATH ?? '' };
    try {
      expect(await launcher.run({ file: '/bin/sh', args: ['-c', 'echo one'], env, timeoutMs: 5000, limit: 100 })).toMatchObject({ code: 0 });
      // The helper's channel closes (it died, or is exiting) before its exit event reached us.
      (launcher as unknown as { child: { disconnect(): void } }).child.disconnect();
      const lost = await launcher.run({ file: '/bin/sh', args: ['-c', 'echo two'], env, timeoutMs: 5000, limit: 100 });
      expect(lost.spawnError).toMatch(/launcher/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await launcher.run({ file: '/bin/sh', args: ['-c', 'echo three'], env, timeoutMs: 5000, limit: 100 })).toMatchObject({ code: 0, stdout: 'three\n' });
    } finally {
      launcher.stop();
    }
  });
});

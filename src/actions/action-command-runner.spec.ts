import { ActionCommandRunner } from './action-command-runner';

describe('ActionCommandRunner', () => {
  const runner = new ActionCommandRunner({ Echo: { argv: ['/bin/echo', '{Text}'] }, Run: { argv: ['{Program}'] } }, 5_000);

  it('answers a parameter holding a NUL byte with a 400 result instead of throwing (it would crash the handler)', async () => {
    await expect(runner.run('a1', 'Echo', { Text: 'a\u0000b' }, 5_000)).resolves.toEqual({ code: 400, message: expect.stringContaining('cannot be run') });
  });

  it('answers an empty program name with a 400 result instead of throwing', async () => {
    await expect(runner.run('a2', 'Run', { Program: '' }, 5_000)).resolves.toEqual({ code: 400, message: expect.stringContaining('cannot be run') });
  });

  it('still runs ordinary parameters', async () => {
    await expect(runner.run('a3', 'Echo', { Text: 'hello' }, 5_000)).resolves.toEqual({ code: 200, message: 'Action successful', data: 'hello\n' });
  });
});

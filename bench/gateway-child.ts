/**
 * Runs the gateway exactly as `src/main.ts` does, inside a child of the bench, plus two things
 * the bench needs from its own side of an IPC channel:
 * - the process stops when the bench goes away (channel closed), so no server is orphaned;
 * - `{ cmd: 'profile-start' }` / `{ cmd: 'profile-stop', file }` record a V8 CPU profile of one
 *   scenario only (`node --cpu-prof` would mix boot, warm-up and every scenario in one file).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import '../src/main';

interface ProfileCommand {
  cmd: 'profile-start' | 'profile-stop';
  file?: string;
}

const session = new Session();

function post<T>(method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params, (error, result) => (error ? reject(error) : resolve(result as T)));
  });
}

async function onCommand(message: ProfileCommand): Promise<void> {
  if (message.cmd === 'profile-start') {
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 500 });
    await post('Profiler.start');
    process.send?.({ ok: 'profile-start' });
    return;
  }
  const { profile } = await post<{ profile: unknown }>('Profiler.stop');
  await post('Profiler.disable');
  session.disconnect();
  if (message.file) writeFileSync(message.file, JSON.stringify(profile));
  process.send?.({ ok: 'profile-stop' });
}

process.on('message', (message: ProfileCommand) => {
  onCommand(message).catch((error: unknown) => process.send?.({ error: String(error) }));
});
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));

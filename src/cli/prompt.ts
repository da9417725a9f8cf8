import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

/** Whether questions can be asked: only on an interactive terminal (never wait on a pipe). */
export function canPrompt(): boolean {
  return process.stdin.isTTY === true;
}

/**
 * Asks one question on the terminal. With `hidden`, what is typed is not echoed (as Python's
 * `getpass`): readline writes to a stream that drops everything after the question itself.
 * Ctrl-C or the end of input rejects instead of leaving the process waiting.
 */
export async function ask(question: string, options: { hidden?: boolean } = {}): Promise<string> {
  let muted = false;
  let cancelled = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!muted) process.stdout.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.on('SIGINT', () => {
        cancelled = true;
        reject(new Error('Cancelled.'));
      });
      rl.on('close', () => reject(new Error('No answer: the input was closed.')));
      rl.question(question, resolve);
      // The question has been written synchronously; from here on only the typing would be echoed.
      muted = options.hidden === true;
    });
  } finally {
    rl.close();
    // The Enter of a hidden answer, or the Ctrl-C, was not echoed: end the line.
    if (options.hidden || cancelled) process.stdout.write('\n');
  }
}

/**
 * The service cannot start for a reason outside its configuration's syntax (the port is taken, a
 * TLS file cannot be read, the database does not answer): the message says what and what to do,
 * and main.ts logs it as one line, without a stack trace.
 */
export class BootError extends Error {
  override readonly name = 'BootError';
}

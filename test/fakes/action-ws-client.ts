import WebSocket, { ClientOptions } from 'ws';
import { ACTION_PROTOCOL, ACTION_WS_PATH } from '../../src/actions/action-frames';

export type Frame = Record<string, unknown>;

/**
 * A real WebSocket client speaking the action protocol by hand, recording every frame it gets:
 * the tests drive each step (ack, result) themselves.
 */
export class ActionWsClient {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  closeCode: number | null = null;
  private readonly waiters: Array<{ match: (f: Frame) => boolean; done: (f: Frame) => void }> = [];
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData) => {
      const text = (data as Buffer).toString('utf8');
      this.raw.push(text);
      const frame = JSON.parse(text) as Frame;
      this.frames.push(frame);
      for (const w of [...this.waiters]) {
        if (w.match(frame)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.done(frame);
        }
      }
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve((this.closeCode = code))));
    ws.on('error', () => undefined);
  }

  /** Connects with subprotocols `action-1.0.0` and `token-<token>` (any given list instead with `protocols`). */
  static connect(port: number, token: string | null, protocols?: string[]): Promise<ActionWsClient> {
    return ActionWsClient.open(`ws://127.0.0.1:${port}${ACTION_WS_PATH}`, protocols ?? [ACTION_PROTOCOL, ...(token === null ? [] : [`token-${token}`])]);
  }

  /** Connects to the channel at `origin` (`ws://` or `wss://`, e.g. a proxy in front of the gateway), with `options` for TLS. */
  static connectTo(origin: string, token: string, options: ClientOptions = {}): Promise<ActionWsClient> {
    return ActionWsClient.open(`${origin}${ACTION_WS_PATH}`, [ACTION_PROTOCOL, `token-${token}`], options);
  }

  private static async open(url: string, protocols: string[], options: ClientOptions = {}): Promise<ActionWsClient> {
    const ws = new WebSocket(url, protocols, options);
    const client = new ActionWsClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return client;
  }

  /** The first frame (already received or coming) that matches, within `timeoutMs`. */
  next(match: (f: Frame) => boolean, timeoutMs = 10_000, from = 0): Promise<Frame> {
    const seen = this.frames.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`)), timeoutMs);
      this.waiters.push({ match, done: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  /** The next frame of `type` for action `id` that arrives after now. */
  nextFor(type: string, id?: string, timeoutMs = 10_000): Promise<Frame> {
    return this.next((f) => f.type === type && (id === undefined || f.id === id), timeoutMs, this.frames.length);
  }

  submitFor(id: string, timeoutMs = 10_000): Promise<Frame> {
    return this.next((f) => f.type === 'submitAction' && f.id === id, timeoutMs);
  }

  send(frame: Frame | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  ack(id: string): void {
    this.send({ type: 'acknowledged', id, code: 200, message: 'submitAction acknowledged' });
  }

  result(id: string, result: Frame = { message: 'Action successful', code: 200, data: 'ok' }): void {
    this.send({ type: 'sendActionResult', id, result: JSON.stringify(result) });
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.terminate();
    await this.closed;
  }
}

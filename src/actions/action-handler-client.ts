import WebSocket from 'ws';
import { ActionCommandRunner } from './action-command-runner';
import { ACTION_PROTOCOL, ACTION_WS_PATH, ActionFrame, errorOf, parseFrame, TOKEN_PROTOCOL_PREFIX } from './action-frames';
import { HandlerLedger } from './action-handler-ledger';
import { reconnectDelayMs } from './reconnect-backoff';

/** Resends of a result the gateway nacked (both reference clients: 4). */
const MAX_RESENDS = 4;
const INTERRUPTED = JSON.stringify({ code: 500, message: 'interrupted: the handler stopped while the action ran; it is not run again' });
/** WebSocket close code: a frame was larger than the peer takes. */
const MESSAGE_TOO_BIG = 1009;
/** Of a result the gateway refuses as too large (413), this much of its text is sent in the failure that replaces it (escaped, it stays under the smallest ACTIONS_MAX_RESULT_BYTES). */
const TOO_LARGE_KEEP = 128;
/** The gateway's default ping interval: a connection that answers no ping of ours for this long is dropped. */
const HEARTBEAT_MS = 30_000;

export interface ActionHandlerClientOptions {
  /** `ws(s)://host:port`, with or without the path `/api/action-ws/1.0`. */
  url: string;
  token: string;
  ledger: HandlerLedger;
  runner: ActionCommandRunner;
  /** Delay before reconnect attempt n (0-based since the last good message); the Python client's schedule by default. */
  reconnectDelay?: (attempt: number) => number;
  /**
   * The client pings the gateway this often and drops the connection (then reconnects) when the
   * previous ping got no pong and nothing else arrived: a connection that died silently (a NAT or
   * proxy forgetting it) would otherwise never be noticed, and no action would reach the handler.
   */
  heartbeatMs?: number;
  log?: (line: string) => void;
}

/**
 * The on-premises side of the action protocol (docs/protocols.md, action channel), as HIRO's reference clients behave,
 * plus a ledger on disk: an action is acknowledged at once, recorded as running (durably) before
 * its command starts, and its result recorded before it is sent. A redelivered action that already
 * ran gets its stored result again; one that was running when the client died is answered
 * `{"code":500,"message":"interrupted…"}` instead of being run a second time (exactly-once runs,
 * at the price of a failed result after a crash).
 */
export class ActionHandlerClient {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly running = new Map<string, Promise<void>>();
  private readonly nacks = new Map<string, number>();
  private readonly log: (line: string) => void;
  private readonly url: string;

  constructor(private readonly options: ActionHandlerClientOptions) {
    this.log = options.log ?? ((line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
    const url = new URL(options.url);
    if (url.pathname === '/' || url.pathname === '') url.pathname = ACTION_WS_PATH;
    this.url = url.toString();
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Closes the connection and waits for the commands still running (their results stay in the ledger). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stopHeartbeat();
    this.ws?.close(1000, 'handler stopping');
    await Promise.all(this.running.values());
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.url, [ACTION_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${this.options.token}`]);
    this.ws = ws;
    ws.on('open', () => {
      this.log(`connected to ${this.url}`);
      this.startHeartbeat(ws);
      // Results whose acknowledgement was lost with the last connection.
      for (const [id, entry] of this.options.ledger.undelivered()) this.send({ type: 'sendActionResult', id, result: entry.result ?? INTERRUPTED });
    });
    ws.on('message', (data: WebSocket.RawData) => this.onMessage((data as Buffer).toString('utf8')));
    ws.on('error', (error) => this.log(`connection error: ${error.message}`));
    ws.on('close', (code) => {
      if (this.ws === ws) {
        this.ws = null;
        this.stopHeartbeat();
      }
      if (this.stopped) return;
      // 1009: a frame was over the gateway's WebSocket limit. Only a result can be that large, and it
      // would be refused again at every reconnect: the large ones not yet acknowledged are replaced.
      if (code === MESSAGE_TOO_BIG) for (const [id, entry] of this.options.ledger.undelivered()) this.shrink(id, entry.result);
      const delay = (this.options.reconnectDelay ?? reconnectDelayMs)(this.attempt++);
      this.log(`disconnected (${code}); reconnecting in ${delay} ms`);
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
  }

  private startHeartbeat(ws: WebSocket): void {
    this.stopHeartbeat();
    let alive = true;
    const heard = (): void => {
      alive = true;
    };
    ws.on('pong', heard);
    ws.on('ping', heard);
    ws.on('message', heard);
    this.heartbeatTimer = setInterval(() => {
      if (!alive) {
        this.log('no answer from the gateway to a ping: connection dropped');
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, this.options.heartbeatMs ?? HEARTBEAT_MS);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private onMessage(text: string): void {
    const frame = parseFrame(text);
    if (!frame) return this.log('ignored a frame that is not a JSON object');
    const error = errorOf(frame);
    if (error) return this.log(`gateway error ${error.code}: ${error.message}`);
    // A good message: the reconnect schedule starts over (as the Python client).
    this.attempt = 0;
    const id = typeof frame.id === 'string' ? frame.id : null;
    switch (frame.type) {
      case 'submitAction':
        if (id) this.onSubmit(id, frame);
        return;
      case 'acknowledged':
        if (id) {
          this.nacks.delete(id);
          this.options.ledger.markDelivered(id);
        }
        return;
      case 'negativeAcknowledged':
        if (id) this.onNack(id, frame);
        return;
      case 'configChanged':
        this.log('configuration changed on the gateway');
        return;
      default:
        this.log(`ignored frame type ${JSON.stringify(frame.type)}`);
    }
  }

  private onSubmit(id: string, frame: Record<string, unknown>): void {
    this.send({ type: 'acknowledged', id, code: 200, message: 'submitAction acknowledged' });
    if (this.running.has(id)) return;
    const ledger = this.options.ledger;
    const known = ledger.get(id);
    if (known?.state === 'done') {
      this.send({ type: 'sendActionResult', id, result: known.result ?? INTERRUPTED });
      return;
    }
    if (known?.state === 'running') {
      this.log(`action ${id} was running when the handler stopped: reported as interrupted, not run again`);
      ledger.finish(id, INTERRUPTED);
      this.send({ type: 'sendActionResult', id, result: INTERRUPTED });
      return;
    }
    const capability = typeof frame.capability === 'string' ? frame.capability : '';
    const parameters = frame.parameters !== null && typeof frame.parameters === 'object' ? (frame.parameters as Record<string, unknown>) : {};
    const timeoutMs = typeof frame.timeout === 'number' && frame.timeout >= 0 ? frame.timeout : 300_000;
    if (timeoutMs === 0) {
      // The gateway sent it as its time ran out: it is expired there, so a run would go unrecorded.
      this.log(`action ${id} arrived with no time left: not run`);
      return;
    }
    const expiresAt = Date.now() + timeoutMs;
    ledger.start(id, capability, expiresAt);
    const run = this.options.runner.run(id, capability, parameters, timeoutMs).then((result) => {
      const text = JSON.stringify(result);
      ledger.finish(id, text);
      this.running.delete(id);
      this.log(`action ${id} (${capability}) finished with ${result.code}`);
      // Both reference clients drop results after the action's timeout.
      if (Date.now() <= expiresAt) this.send({ type: 'sendActionResult', id, result: text });
    });
    this.running.set(id, run);
  }

  private onNack(id: string, frame: Record<string, unknown>): void {
    const entry = this.options.ledger.get(id);
    const count = (this.nacks.get(id) ?? 0) + 1;
    this.log(`result of ${id} refused (${String(frame.code)}: ${String(frame.message)})`);
    if (entry?.state !== 'done' || count > MAX_RESENDS) {
      this.nacks.delete(id);
      return;
    }
    this.nacks.set(id, count);
    if (frame.code === 413) this.shrink(id, entry.result);
    this.send({ type: 'sendActionResult', id, result: this.options.ledger.get(id)?.result ?? INTERRUPTED });
  }

  /**
   * Resending a result the gateway refuses as too large would be refused every time, and the action
   * would expire although it ran: it is replaced by a failure that says so, with the start of the output.
   */
  private shrink(id: string, result: string | undefined): void {
    if (result === undefined || result.length <= TOO_LARGE_KEEP) return;
    this.options.ledger.finish(id, JSON.stringify({ code: 500, message: `the result (${Buffer.byteLength(result, 'utf8')} bytes) is larger than the gateway takes`, data: result.slice(0, TOO_LARGE_KEEP) }));
  }

  private send(frame: ActionFrame): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }
}

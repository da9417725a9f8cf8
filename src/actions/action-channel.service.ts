import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Subscription } from 'rxjs';
import { RawData, WebSocket, WebSocketServer } from 'ws';
import { Wakeup } from '../common/wakeup';
import { actionsConfig, ActionsConfig } from '../config/actions.config';
import { ActionCatalogService } from './action-catalog.service';
import { ActionConnection, ActionConnectionRegistry } from './action-connection-registry.service';
import { ACTION_PROTOCOL, ACTION_WS_PATH, ActionFrame, checkResult, parseFrame, TOKEN_PROTOCOL_PREFIX } from './action-frames';
import { ActionHandler } from './action-handler.entity';
import { ActionHandlersService } from './action-handlers.service';
import { ActionLedgerService, ResultOutcome } from './action-ledger.service';
import { Action, ActionState } from './action.entity';

const PATHS = new Set([ACTION_WS_PATH, `${ACTION_WS_PATH}/`]);
/** Close codes: 1008 policy violation (bad token, revoked), 1001 going away (shutdown). */
const CLOSE_POLICY = 1008;
const CLOSE_GOING_AWAY = 1001;
/** What `ws` reports when the connection ended without a close frame. */
const CLOSE_ABNORMAL = 1006;
const MISSED_PONG = 'missed a pong';
const SHUTDOWN_GRACE_MS = 500;
const CLAIM_BATCH = 500;

const ACK_MESSAGES: Record<Exclude<ResultOutcome, ResultOutcome.Unknown>, { code: number; message: string }> = {
  [ResultOutcome.Stored]: { code: 200, message: 'sendActionResult acknowledged' },
  [ResultOutcome.Duplicate]: { code: 200, message: 'sendActionResult acknowledged (result already stored)' },
  [ResultOutcome.Expired]: { code: 410, message: 'Action expired; result discarded' },
  [ResultOutcome.Closed]: { code: 409, message: 'Action already refused by the handler; result discarded' },
};

/**
 * The WebSocket endpoint of the action protocol (docs/protocols.md, action channel) at `/api/action-ws/1.0`, on the
 * app's own HTTP server. A handler authenticates with the subprotocol `token-<token>` next to
 * `action-1.0.0`; it is sent every open action of its own on connect (same ids), and new ones as
 * they are submitted here, or found by the poll when submitted on another replica.
 *
 * Frames: `acknowledged` moves an action to acknowledged; `sendActionResult` is checked and stored
 * once, answered `acknowledged` (also for a duplicate, or with 410 for an expired action so the
 * handler drops it) or `negativeAcknowledged` (400 bad result, 413 oversize, 404 unknown or
 * another handler's id, 503 storage failure: the handler resends); the handler's own
 * `negativeAcknowledged` refuses the action (failed). Text that is not a JSON object gets an `error`
 * frame (400); an unknown type with an id is nacked (400), without one it is logged and ignored.
 */
@Injectable()
export class ActionChannelService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ActionChannelService.name);
  private readonly wss: WebSocketServer;
  private readonly wakeup = new Wakeup();
  private readonly subscriptions: Subscription[] = [];
  private server: Server | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private stopping = false;
  /** `last_seen_at` writes under way: shutdown waits for them before the database closes. */
  private readonly seenWrites = new Set<Promise<void>>();

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly connections: ActionConnectionRegistry,
    private readonly handlers: ActionHandlersService,
    private readonly ledger: ActionLedgerService,
    private readonly catalog: ActionCatalogService,
    @Inject(actionsConfig.KEY) private readonly config: ActionsConfig,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      // A result sent as a string is escaped once more inside its frame: up to 6 bytes a byte
      // (\u00XX); one sent as an object is about its own size. Larger frames close with 1009.
      maxPayload: config.maxResultBytes * 6 + 64 * 1024,
      handleProtocols: (protocols) => (protocols.has(ACTION_PROTOCOL) ? ACTION_PROTOCOL : false),
    });
  }

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server) return;
    this.server = server;
    server.on('upgrade', this.onUpgrade);
    this.subscriptions.push(
      this.ledger.submitted$.subscribe((action) => void this.sendSubmitted(action)),
      this.catalog.changed$.subscribe((organizationId) => this.configChanged(organizationId)),
      this.handlers.revoked$.subscribe((handlerId) => this.disconnect(handlerId, 'Token revoked.')),
    );
    this.pingTimer = setInterval(() => this.ping(), this.config.pingIntervalMs);
    this.pingTimer.unref();
    this.loop = this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.server?.off('upgrade', this.onUpgrade);
    for (const s of this.subscriptions) s.unsubscribe();
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.wakeup.notify();
    await this.loop;
    const open = this.connections.all();
    for (const c of open) {
      c.leaving = 'gateway shutting down';
      c.ws.close(CLOSE_GOING_AWAY, 'Server shutting down');
    }
    const deadline = Date.now() + SHUTDOWN_GRACE_MS;
    while (Date.now() < deadline && open.some((c) => c.ws.readyState !== WebSocket.CLOSED)) await sleep(20);
    for (const c of open) c.ws.terminate();
    this.wss.close();
    await Promise.all([...this.seenWrites]);
  }

  /** Upgrades on our path only; the token is checked before the upgrade, the 401 frame sent after it. */
  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (request.url ?? '').split('?')[0];
    if (!PATHS.has(path)) {
      // Another module may serve this path; with no other listener nobody would answer at all.
      if (this.server && this.server.listenerCount('upgrade') === 1) refuse(socket, 404, 'Not Found');
      return;
    }
    if (this.stopping) return refuse(socket, 503, 'Service Unavailable');
    const protocols = String(request.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0);
    if (!protocols.includes(ACTION_PROTOCOL)) return refuse(socket, 400, 'Bad Request');
    const token = protocols.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX))?.slice(TOKEN_PROTOCOL_PREFIX.length);
    socket.on('error', () => undefined);
    this.handlers.authenticate(token).then(
      (handler) => this.accept(request, socket, head, handler),
      (error: unknown) => {
        this.logger.error(`Handler authentication failed: ${String(error)}`);
        refuse(socket, 503, 'Service Unavailable');
      },
    );
  };

  private accept(request: IncomingMessage, socket: Duplex, head: Buffer, handler: ActionHandler | null): void {
    if (socket.destroyed) return;
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      if (!handler || this.stopping) {
        // The protocol's answer to a bad token, then the close (docs/protocols.md, action channel).
        send(ws, { type: 'error', code: handler ? 503 : 401, message: handler ? 'Service shutting down.' : 'Unauthorized: invalid or missing token.' });
        ws.close(handler ? CLOSE_GOING_AWAY : CLOSE_POLICY, handler ? 'Shutting down' : 'Unauthorized');
        return;
      }
      const connection: ActionConnection = { ws, handler, alive: true };
      this.connections.add(connection);
      this.markSeen([handler.id]);
      const peer = peerOf(request);
      this.logger.log(
        { event: 'action_handler.connected', handlerId: handler.id, handlerName: handler.name, organizationId: handler.organizationId, ...peer, connections: this.connections.ofHandler(handler.id).length },
        `action handler ${handler.id} (${handler.name}, organization ${handler.organizationId}) connected from ${peer.address}`,
      );
      ws.on('pong', () => (connection.alive = true));
      ws.on('message', (data: RawData, isBinary: boolean) => void this.onMessage(connection, data, isBinary));
      ws.on('close', (code: number, reason: Buffer) => this.left(connection, peer, code, reason.toString('utf8')));
      // Always followed by 'close', which logs the leaving with this as its reason.
      ws.on('error', (error) => (connection.leaving ??= `connection error: ${error.message}`));
      void this.sendOpen(connection);
    });
  }

  /**
   * One line for every connection that ends, whoever ended it: the handler (its close code and
   * reason), the network (1006, no close frame), or the gateway (`leaving`: token revoked, missed
   * pong, shutdown, connection error). Warn level when the connection was lost rather than closed.
   */
  private left(connection: ActionConnection, peer: Peer, code: number, closeReason: string): void {
    this.connections.remove(connection);
    const { handler } = connection;
    this.markSeen([handler.id]);
    const reason = connection.leaving ?? (code === CLOSE_ABNORMAL ? 'connection lost (no close frame)' : 'closed by the handler');
    const lost = code === CLOSE_ABNORMAL || connection.leaving?.startsWith('connection error') === true || connection.leaving === MISSED_PONG;
    const fields = {
      event: 'action_handler.left',
      handlerId: handler.id,
      handlerName: handler.name,
      organizationId: handler.organizationId,
      ...peer,
      reason,
      code,
      ...(closeReason ? { closeReason: closeReason.slice(0, 123) } : {}),
      connections: this.connections.ofHandler(handler.id).length,
    };
    const message = `action handler ${handler.id} (${handler.name}, organization ${handler.organizationId}) at ${peer.address} left: ${reason} (code ${code}${closeReason ? ` "${closeReason.slice(0, 123)}"` : ''})`;
    if (lost) this.logger.warn(fields, message);
    else this.logger.log(fields, message);
  }

  /** Every open action of the handler, to a connection that just opened: pending ones claimed, the others sent again. */
  private async sendOpen(connection: ActionConnection): Promise<void> {
    try {
      for (const action of await this.ledger.openFor(connection.handler.id)) {
        if (connection.ws.readyState !== WebSocket.OPEN) return;
        if (await this.ledger.markSent(action)) this.sendAction(connection, action);
      }
    } catch (error) {
      this.logger.error(`Sending open actions to handler ${connection.handler.id} failed: ${String(error)}`);
    }
  }

  /** The fast path for an action submitted in this process to a handler connected here; the poll is the fallback. */
  private async sendSubmitted(action: Action): Promise<void> {
    const connection = this.connections.newest(action.handlerId);
    try {
      if (!connection || this.stopping) {
        if (action.state === ActionState.Sent) await this.ledger.unsend(action);
        return;
      }
      if (action.state === ActionState.Sent || (await this.ledger.markSent(action))) this.sendAction(connection, action);
    } catch (error) {
      this.logger.error(`Sending action ${action.id} failed (the poll retries): ${String(error)}`);
    }
  }

  private sendAction(connection: ActionConnection, action: Action): void {
    send(connection.ws, {
      type: 'submitAction',
      id: action.id,
      handler: connection.handler.name,
      capability: action.capability,
      parameters: action.parameters,
      timeout: Math.max(0, action.expiresAt.getTime() - Date.now()),
    });
  }

  private async onMessage(connection: ActionConnection, data: RawData, isBinary: boolean): Promise<void> {
    connection.alive = true;
    const frame = isBinary ? null : parseFrame(rawText(data));
    const ws = connection.ws;
    if (!frame) return send(ws, { type: 'error', code: 400, message: 'Frames must be JSON objects (text).' });
    const id = typeof frame.id === 'string' && frame.id.length > 0 && frame.id.length <= 64 ? frame.id : null;
    try {
      switch (frame.type) {
        case 'acknowledged':
          if (id) await this.ledger.acknowledge(connection.handler.id, id);
          return;
        case 'negativeAcknowledged': {
          if (!id) return;
          const text = typeof frame.message === 'string' ? frame.message.slice(0, 4096) : 'refused by the handler';
          // result_code is an integer column: a fractional or out-of-range code would fail the write
          // on PostgreSQL (the refusal lost) or be stored as is on SQLite.
          const given = frame.code;
          const code = isStatusCode(given) ? given : 500;
          const message = code === given || given === undefined ? text : `${text} (handler code ${JSON.stringify(given)})`;
          await this.ledger.refuse(connection.handler.id, id, code, message);
          return;
        }
        case 'sendActionResult':
          return await this.onResult(connection, id, frame.result);
        default:
          if (id) return send(ws, { type: 'negativeAcknowledged', id, code: 400, message: `Unknown frame type ${JSON.stringify(frame.type)}.` });
          // docs/protocols.md, action channel: hello/heartbeat and other id-less frames are logged and ignored, never nacked.
          this.logger.debug(`Handler ${connection.handler.id} sent an unknown frame without id: ${JSON.stringify(frame.type)}`);
      }
    } catch (error) {
      this.logger.error(`Handler ${connection.handler.id} frame ${String(frame.type)} failed: ${String(error)}`);
      if (id && frame.type === 'sendActionResult') send(ws, { type: 'negativeAcknowledged', id, code: 503, message: 'Result not stored; send it again.' });
    }
  }

  private async onResult(connection: ActionConnection, id: string | null, value: unknown): Promise<void> {
    if (!id) return send(connection.ws, { type: 'error', code: 400, message: 'sendActionResult needs an id.' });
    const checked = checkResult(value, this.config.maxResultBytes);
    if (!checked.ok) return send(connection.ws, { type: 'negativeAcknowledged', id, code: checked.code, message: checked.message });
    const outcome = await this.ledger.storeResult(connection.handler.id, id, checked.text, checked.result);
    if (outcome === ResultOutcome.Unknown) return send(connection.ws, { type: 'negativeAcknowledged', id, code: 404, message: 'No such action for this handler.' });
    send(connection.ws, { type: 'acknowledged', id, ...ACK_MESSAGES[outcome] });
  }

  /** Claims and sends the pending actions of the handlers connected here; expires overdue ones; drops revoked handlers. */
  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.dispatchPending();
        await this.resendUnanswered();
        await this.ledger.expireDue();
        for (const id of await this.handlers.revokedAmong(this.connections.handlerIds())) this.disconnect(id, 'Token revoked.');
      } catch (error) {
        if (!this.stopping) this.logger.error(`Action dispatch failed: ${String(error)}`);
      }
      await this.wakeup.wait(this.config.pollMs);
    }
  }

  private async dispatchPending(): Promise<void> {
    for (;;) {
      const pending = await this.ledger.pendingFor(this.connections.handlerIds(), CLAIM_BATCH);
      for (const action of pending) {
        const connection = this.connections.newest(action.handlerId);
        if (!connection || this.stopping) continue;
        // Claimed first: if the process dies before the frame leaves, the action is resent on reconnect.
        if (await this.ledger.markSent(action)) this.sendAction(connection, action);
      }
      if (pending.length < CLAIM_BATCH || this.stopping) return;
    }
  }

  /**
   * Sends again, to the handler's newest connection here, its actions sent long ago (two ping
   * intervals: a dead connection here is closed by then) that still have no result. Otherwise such
   * an action waits for a reconnect that may not come: sent to another replica's connection that
   * died silently while the handler reconnected here, or answered with a result the gateway could
   * not store (nacked 503) more often than the handler resends it. The handler acknowledges a
   * running one again, answers a finished one with its stored result and runs only one it never got.
   */
  private async resendUnanswered(): Promise<void> {
    const sentBefore = new Date(Date.now() - 2 * this.config.pingIntervalMs);
    for (const action of await this.ledger.unansweredFor(this.connections.handlerIds(), sentBefore, CLAIM_BATCH)) {
      const connection = this.connections.newest(action.handlerId);
      if (!connection || this.stopping) continue;
      if (await this.ledger.markSent(action)) this.sendAction(connection, action);
    }
  }

  private configChanged(organizationId: string): void {
    for (const c of this.connections.all()) if (c.handler.organizationId === organizationId) send(c.ws, { type: 'configChanged' });
  }

  private disconnect(handlerId: string, message: string): void {
    for (const c of this.connections.ofHandler(handlerId)) {
      c.leaving = 'token revoked';
      send(c.ws, { type: 'error', code: 401, message });
      c.ws.close(CLOSE_POLICY, 'Unauthorized');
      this.connections.remove(c);
    }
  }

  /** `last_seen_at` of these handlers, in the background: a failed write is logged, never a reason to drop a connection. */
  private markSeen(ids: string[]): void {
    const write = this.handlers
      .seen(ids)
      .catch((error: unknown) => this.logger.warn(`Recording when handlers were last seen failed: ${String(error)}`))
      .finally(() => this.seenWrites.delete(write));
    this.seenWrites.add(write);
  }

  /** Pings every connection, closes those that missed the last one, and records the others as seen (one write a round). */
  private ping(): void {
    this.markSeen([...new Set(this.connections.all().filter((c) => c.alive).map((c) => c.handler.id))]);
    for (const c of this.connections.all()) {
      if (!c.alive) {
        c.leaving = MISSED_PONG;
        c.ws.terminate();
        this.connections.remove(c);
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }
}

/** An integer status, 100-999, as results carry (see checkResult). */
function isStatusCode(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 999;
}

function send(ws: WebSocket, frame: ActionFrame): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

/** Where a handler connects from: the TCP peer, and what a proxy in front says (`X-Forwarded-For`, as sent). */
interface Peer {
  address: string;
  forwardedFor?: string;
}

function peerOf(request: IncomingMessage): Peer {
  const forwarded = request.headers['x-forwarded-for'];
  const forwardedFor = (Array.isArray(forwarded) ? forwarded.join(', ') : forwarded)?.slice(0, 256);
  return { address: request.socket.remoteAddress ?? 'unknown', ...(forwardedFor ? { forwardedFor } : {}) };
}

function refuse(socket: Duplex, status: number, reason: string): void {
  if (!socket.destroyed) socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

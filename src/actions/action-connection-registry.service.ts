import { Injectable } from '@nestjs/common';
import type { WebSocket } from 'ws';
import type { ActionHandler } from './action-handler.entity';

/** One handler's WebSocket connection to this process. */
export interface ActionConnection {
  readonly ws: WebSocket;
  readonly handler: ActionHandler;
  /** Set by every pong and frame; the ping timer closes a connection still false at the next ping. */
  alive: boolean;
  /** Why the gateway is closing it (revoked, missed pong, shutdown), for the log line of its leaving; unset when the handler left. */
  leaving?: string;
}

/**
 * The handler connections of this process. A handler may hold several (reconnecting before the old
 * one is noticed dead, or two instances with one token): actions go to the newest.
 */
@Injectable()
export class ActionConnectionRegistry {
  private readonly byHandler = new Map<string, ActionConnection[]>();

  add(connection: ActionConnection): void {
    const list = this.byHandler.get(connection.handler.id) ?? [];
    list.push(connection);
    this.byHandler.set(connection.handler.id, list);
  }

  remove(connection: ActionConnection): void {
    const list = (this.byHandler.get(connection.handler.id) ?? []).filter((c) => c !== connection);
    if (list.length > 0) this.byHandler.set(connection.handler.id, list);
    else this.byHandler.delete(connection.handler.id);
  }

  newest(handlerId: string): ActionConnection | undefined {
    const list = this.byHandler.get(handlerId);
    return list?.[list.length - 1];
  }

  isConnected(handlerId: string): boolean {
    return this.byHandler.has(handlerId);
  }

  handlerIds(): string[] {
    return [...this.byHandler.keys()];
  }

  all(): ActionConnection[] {
    return [...this.byHandler.values()].flat();
  }

  ofHandler(handlerId: string): ActionConnection[] {
    return [...(this.byHandler.get(handlerId) ?? [])];
  }
}

import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Subject } from 'rxjs';
import { DataSource, IsNull } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { TransactionRunner } from '../database/transaction-runner.service';
import { confineToSubtree } from '../organizations/organization-tree';
import { ActionHandler } from './action-handler.entity';
import { findVisible, insertUnique, ownerFor } from './action-lookup';
import { CreateHandlerDto } from './actions.dto';
import { HandlerList, HandlerView, HandlerWithTokenView } from './actions.views';

export const TOKEN_PREFIX = 'ahk_';
const TOKEN_SHAPE = /^ahk_[A-Za-z0-9_-]{43}$/;

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Handler credentials. A token is `ahk_` + 32 random bytes (base64url), shown once; only its
 * SHA-256 is stored (a fast hash is enough for a high-entropy secret, and lets every WebSocket
 * connect and REST read find the handler by one indexed lookup).
 */
@Injectable()
export class ActionHandlersService {
  /** Emits the handler id after a revocation commits, so that open connections are closed. */
  readonly revoked$ = new Subject<string>();

  constructor(
    private readonly transactions: TransactionRunner,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async create(caller: VerifiedCaller, dto: CreateHandlerDto, connected: (id: string) => boolean): Promise<HandlerWithTokenView> {
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const row = await this.transactions.run(async (em) => {
      const organizationId = await ownerFor(em, caller, dto.organization_id);
      const handler = Object.assign(new ActionHandler(), {
        id: randomUUID(),
        organizationId,
        name: dto.name,
        tokenHash: hashToken(token),
        createdBy: caller.userId,
        createdAt: new Date(),
        revokedAt: null,
        lastSeenAt: null,
      });
      await insertUnique(em, ActionHandler, { ...handler }, 'A handler with this name already exists in the organization.');
      return handler;
    });
    return { ...handlerView(row, connected), token };
  }

  async list(caller: VerifiedCaller, organizationId: string | undefined, connected: (id: string) => boolean): Promise<HandlerList> {
    const em = this.dataSource.manager;
    const qb = em.createQueryBuilder(ActionHandler, 'h');
    if (organizationId !== undefined) qb.where('h.organization_id = :organizationId', { organizationId: await ownerFor(em, caller, organizationId) });
    else confineToSubtree(qb, 'h.organization_id', caller.organizationId);
    const rows = await qb.orderBy('h.created_at', 'DESC').addOrderBy('h.id', 'DESC').getMany();
    return { items: rows.map((r) => handlerView(r, connected)) };
  }

  async get(caller: VerifiedCaller, id: string, connected: (id: string) => boolean): Promise<HandlerView> {
    return handlerView(await findVisible(this.dataSource.manager, caller, ActionHandler, id, 'Action handler'), connected);
  }

  /** Revokes the token; connections using it are closed and its open actions stay until they expire. Revoking twice is a no-op. */
  async revoke(caller: VerifiedCaller, id: string, connected: (id: string) => boolean): Promise<HandlerView> {
    const row = await this.transactions.run(async (em) => {
      const handler = await findVisible(em, caller, ActionHandler, id, 'Action handler', true);
      if (handler.revokedAt === null) {
        handler.revokedAt = new Date();
        await em.update(ActionHandler, { id }, { revokedAt: handler.revokedAt });
      }
      return handler;
    });
    this.revoked$.next(row.id);
    return handlerView(row, connected);
  }

  /** The live handler a token belongs to, or null (malformed, unknown or revoked alike). */
  async authenticate(token: string | undefined): Promise<ActionHandler | null> {
    if (token === undefined || !TOKEN_SHAPE.test(token)) return null;
    return this.dataSource.manager.findOne(ActionHandler, { where: { tokenHash: hashToken(token), revokedAt: IsNull() } });
  }

  /** Records that the channel heard from these handlers now: one statement for all of them. */
  async seen(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const at = new Date();
    await this.transactions.run((em) => em.createQueryBuilder().update(ActionHandler).set({ lastSeenAt: at }).where('id IN (:...ids)', { ids }).execute());
  }

  /** Of these handler ids, those revoked since (another replica may have revoked them). */
  async revokedAmong(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.dataSource.manager
      .createQueryBuilder(ActionHandler, 'h')
      .select('h.id', 'id')
      .where('h.id IN (:...ids) AND h.revoked_at IS NOT NULL', { ids })
      .getRawMany<{ id: string }>();
    return rows.map((r) => r.id);
  }
}

export function handlerView(h: ActionHandler, connected: (id: string) => boolean): HandlerView {
  return {
    id: h.id,
    organization_id: h.organizationId,
    name: h.name,
    created_by: h.createdBy,
    created_at: h.createdAt.toISOString(),
    revoked_at: h.revokedAt ? h.revokedAt.toISOString() : null,
    connected: connected(h.id),
    last_seen_at: h.lastSeenAt ? h.lastSeenAt.toISOString() : null,
  };
}

import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import type { VerifiedCaller } from '../auth/credential-cache.service';
import { consoleConfig, ConsoleConfig } from '../config/console.config';
import { fromDbDate } from '../database/raw-dates';
import { executeSql, selectSql } from '../database/raw-sql';
import { ConsoleSession } from './console-session.entity';

/** A session that is still valid, with its user as the API services take it. */
export interface ActiveSession {
  /** The row id (hash of the cookie's token). */
  id: string;
  caller: VerifiedCaller;
  csrfToken: string;
}

/** Why a cookie's session is not valid (shown on the sign-in page). */
export type SessionEnd = 'expired' | 'signed-out';

interface SessionRow {
  id: string;
  user_id: string;
  password_fingerprint: string;
  csrf_token: string;
  last_seen_at: Date | string;
  expires_at: Date | string;
  login: string | null;
  organization_id: string | null;
  password: string | null;
}

/** The most often `last_seen_at` is written for one session (ms); a tenth of the idle limit when that is shorter. */
const TOUCH_EVERY_MS = 60_000;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** What a session remembers of the password hash: a change of password (or of its hash) ends the session. */
export const passwordFingerprint = (passwordHash: string): string => sha256(`console-session\0${passwordHash}`);

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Console sessions in the database (table console_sessions): created at sign-in, checked on every
 * request against the user's current row (deleted user or changed password: ended), idle and
 * absolute expiry from CONSOLE_SESSION_IDLE_SECONDS and CONSOLE_SESSION_MAX_SECONDS.
 */
@Injectable()
export class ConsoleSessions {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(consoleConfig.KEY) private readonly config: ConsoleConfig,
  ) {}

  /** A new session for the user; returns the token for the cookie (never stored as such). */
  async create(userId: string, passwordHash: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const now = new Date();
    await this.dataSource.manager.insert(ConsoleSession, {
      id: sha256(token),
      userId,
      passwordFingerprint: passwordFingerprint(passwordHash),
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: new Date(now.getTime() + this.config.maxMs),
    });
    await this.sweep(now);
    return token;
  }

  /**
   * The valid session of a cookie's token, or null (and the row deleted when it exists but has
   * ended). `active`: the request is the user's doing, not a background refresh, and keeps the
   * session from idling out.
   */
  async resolve(token: string, active: boolean): Promise<ActiveSession | null> {
    const id = sha256(token);
    const [row] = await selectSql<SessionRow>(
      this.dataSource.manager,
      `SELECT s.id, s.user_id, s.password_fingerprint, s.csrf_token, s.last_seen_at, s.expires_at, u.login, u.organization_id, u.password
         FROM console_sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = ?`,
      [id],
    );
    if (!row) return null;
    const now = Date.now();
    const lastSeen = fromDbDate(row.last_seen_at).getTime();
    const valid =
      row.login !== null &&
      row.organization_id !== null &&
      row.password !== null &&
      sameText(passwordFingerprint(row.password), row.password_fingerprint) &&
      now < fromDbDate(row.expires_at).getTime() &&
      now < lastSeen + this.config.idleMs;
    if (!valid) {
      await this.dataSource.manager.delete(ConsoleSession, { id });
      return null;
    }
    if (active && now - lastSeen >= Math.min(TOUCH_EVERY_MS, this.config.idleMs / 10)) {
      await executeSql(this.dataSource.manager, 'UPDATE console_sessions SET last_seen_at = ? WHERE id = ?', [new Date(now), id]);
    }
    return {
      id,
      caller: { userId: row.user_id, login: row.login as string, organizationId: row.organization_id as string },
      csrfToken: row.csrf_token,
    };
  }

  /** Whether `given` is the session's synchronizer token (constant time). */
  checkCsrf(session: ActiveSession, given: unknown): boolean {
    return typeof given === 'string' && sameText(given, session.csrfToken);
  }

  async end(sessionId: string): Promise<void> {
    await this.dataSource.manager.delete(ConsoleSession, { id: sessionId });
  }

  /** Ends the session of a cookie's token, if any (a new sign-in replaces it). */
  async endToken(token: string): Promise<void> {
    await this.end(sha256(token));
  }

  /** Deletes the sessions that have ended by time (those of other users too: the table stays small). */
  private async sweep(now: Date): Promise<void> {
    await this.dataSource.manager
      .createQueryBuilder()
      .delete()
      .from(ConsoleSession)
      .where('expires_at < :now OR last_seen_at < :idleSince', { now, idleSince: new Date(now.getTime() - this.config.idleMs) })
      .execute();
  }
}

import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * One signed-in console session (docs/console.md). The cookie holds a random token; the row is
 * keyed by its SHA-256, so that the table alone lets nobody in. A session ends when idle too long,
 * past its absolute expiry, at sign-out, when its user is deleted (foreign key, on delete cascade)
 * or when the user's password hash is no longer the one fingerprinted at sign-in.
 */
@Entity('console_sessions')
@Index('console_sessions_user_idx', ['userId'])
@Index('console_sessions_expires_idx', ['expiresAt'])
export class ConsoleSession {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId!: string;

  /** SHA-256 of the user's password hash at sign-in. */
  @Column({ name: 'password_fingerprint', type: 'varchar', length: 64 })
  passwordFingerprint!: string;

  /** The synchronizer token every form of this session carries. */
  @Column({ name: 'csrf_token', type: 'varchar', length: 64 })
  csrfToken!: string;

  @Column({ name: 'created_at', type: Date })
  createdAt!: Date;

  /** The last request that was not a background refresh (updated at most every minute). */
  @Column({ name: 'last_seen_at', type: Date })
  lastSeenAt!: Date;

  /** The absolute end: sign-in + CONSOLE_SESSION_MAX_SECONDS. */
  @Column({ name: 'expires_at', type: Date })
  expiresAt!: Date;
}

import { Column, Entity, Index } from 'typeorm';
import { OwnedRow } from './owned-row.entity';

/** A handler credential: an on-premises action handler of one organization, known by its token. */
@Entity('action_handlers')
@Index('action_handlers_organization_name_idx', ['organizationId', 'name'], { unique: true })
@Index('action_handlers_token_hash_idx', ['tokenHash'], { unique: true })
export class ActionHandler extends OwnedRow {
  @Column({ type: 'varchar', length: 255 })
  name!: string;

  /** Hex SHA-256 of the token (a 32-byte random secret: a fast hash is enough, unlike for passwords). */
  @Column({ name: 'token_hash', type: 'varchar', length: 64 })
  tokenHash!: string;

  @Column({ name: 'created_by', type: 'varchar', length: 36, nullable: true })
  createdBy!: string | null;

  @Column({ name: 'created_at', type: Date })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: Date, nullable: true })
  revokedAt!: Date | null;

  /** When the channel last heard from it: set on connect and leave, and at each ping round while connected. */
  @Column({ name: 'last_seen_at', type: Date, nullable: true })
  lastSeenAt!: Date | null;
}

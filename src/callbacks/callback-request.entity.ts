import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * A write callback's stored response, so that the platform's retry of the same request_id gets
 * the same answer without the write running twice.
 */
@Entity('callback_requests')
export class CallbackRequest {
  @PrimaryColumn({ name: 'callback_id', type: 'varchar', length: 255 })
  callbackId!: string;

  @PrimaryColumn({ name: 'request_id', type: 'varchar', length: 64 })
  requestId!: string;

  /** Who sent it: a repeat from anyone else is refused, never answered with this response. */
  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId!: string;

  /** sha256 of the request's context and payload: a reused request_id with another body is refused. */
  @Column({ type: 'varchar', length: 64 })
  fingerprint!: string;

  @Column({ type: 'text' })
  response!: string;

  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;
}

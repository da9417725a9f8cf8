import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** Why an attempt failed before or instead of an HTTP answer; `http` is a non-success answer. */
export enum DeliveryErrorClass {
  Dns = 'dns',
  Connect = 'connect',
  Tls = 'tls',
  Timeout = 'timeout',
  Http = 'http',
  /** The payload URL resolved to an address the safety rules refuse. */
  Blocked = 'blocked',
}

/** One try of a delivery, kept with the delivery (CloudStack keeps only the last). */
@Entity('webhook_delivery_attempts')
@Index('webhook_delivery_attempts_delivery_idx', ['deliveryId', 'attempt'])
export class WebhookDeliveryAttempt {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'delivery_id', type: 'varchar', length: 36 })
  deliveryId!: string;

  @Column({ type: 'integer' })
  attempt!: number;

  @Column({ name: 'started_at', type: Date })
  startedAt!: Date;

  @Column({ name: 'duration_ms', type: 'integer' })
  durationMs!: number;

  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode!: number | null;

  /** The start of the receiver's answer (truncated). */
  @Column({ name: 'response_body', type: 'text', nullable: true })
  responseBody!: string | null;

  @Column({ name: 'error_class', type: 'varchar', length: 16, nullable: true })
  errorClass!: DeliveryErrorClass | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ type: 'boolean' })
  success!: boolean;

  /** The URL the attempt was sent to (null for attempts recorded before it was kept). */
  @Column({ name: 'request_url', type: 'varchar', length: 2048, nullable: true })
  requestUrl!: string | null;

  /** The exact headers sent, signatures included; the body is the delivery's payload. */
  @Column({ name: 'request_headers', type: 'simple-json', nullable: true })
  requestHeaders!: Record<string, string> | null;
}

import { Column, Entity, PrimaryColumn } from 'typeorm';

/** What a record is about. */
export enum AuditKind {
  /** A `POST /callback`, answered or refused (also before authentication). */
  Callback = 'callback',
  /** An outbox event fanned out by the dispatcher. */
  Event = 'event',
  /** A webhook or post-hook delivery made (fan-out, replay, post-hook). */
  Delivery = 'delivery',
  /** One attempt of a delivery. */
  DeliveryAttempt = 'delivery.attempt',
  /** A pre-hook's decision on an operation. */
  HookDecision = 'hook.decision',
  /** A connector item pushed to Acronis (or given up). */
  ConnectorPush = 'connector.push',
  /** An S3 bucket notification taken into the inbox. */
  S3Record = 's3.record',
  /** An action run on an S3 record. */
  S3Action = 's3.action',
  /** An action of the action channel: submitted, or its result. */
  Action = 'action',
}

export enum AuditOutcome {
  Ok = 'ok',
  Failed = 'failed',
}

/**
 * One line of the audit trail (docs/audit.md). Append-only: never updated, deleted only by age.
 * `cause_id` names the record of what caused this one (a callback's record for its event, the
 * event's for its deliveries, a delivery's for its attempts); never a credential or a secret.
 */
@Entity('audit_records')
export class AuditRecord {
  /** UUIDv7: sorts by time. An event's and a delivery's records share the id of their row. */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: Date })
  at!: Date;

  @Column({ type: 'varchar', length: 32 })
  kind!: AuditKind;

  /** The callback id, event type, operation…: what was done, by kind. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  name!: string | null;

  @Column({ type: 'varchar', length: 16 })
  outcome!: AuditOutcome;

  /** The outcome's code: HTTP status, error code, decision, state. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  code!: string | null;

  /** Who may read the record: this organization and those above it. */
  @Column({ name: 'organization_id', type: 'varchar', length: 36, nullable: true })
  organizationId!: string | null;

  /** The Acronis tenant the platform named (`context.tenant_id`). */
  @Column({ name: 'tenant_id', type: 'varchar', length: 64, nullable: true })
  tenantId!: string | null;

  /** The caller's login, or the acting login (`auth_id`). */
  @Column({ type: 'varchar', length: 255, nullable: true })
  actor!: string | null;

  @Column({ name: 'request_id', type: 'varchar', length: 128, nullable: true })
  requestId!: string | null;

  @Column({ name: 'event_id', type: 'varchar', length: 36, nullable: true })
  eventId!: string | null;

  @Column({ name: 'delivery_id', type: 'varchar', length: 36, nullable: true })
  deliveryId!: string | null;

  @Column({ name: 'work_id', type: 'varchar', length: 255, nullable: true })
  workId!: string | null;

  @Column({ name: 'action_id', type: 'varchar', length: 36, nullable: true })
  actionId!: string | null;

  @Column({ name: 'cause_id', type: 'varchar', length: 36, nullable: true })
  causeId!: string | null;

  @Column({ name: 'duration_ms', type: 'integer', nullable: true })
  durationMs!: number | null;

  /** A few small facts (no credentials, no secrets, no payloads). */
  @Column({ type: 'simple-json', nullable: true })
  detail!: Record<string, unknown> | null;
}

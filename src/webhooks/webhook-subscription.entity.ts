import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { Timestamped } from '../database/timestamped.entity';

/** CloudStack's scopes on our organization tree (docs/architecture.md, flow 2). */
export enum WebhookScope {
  /** Events of the owner's organization. */
  Local = 'Local',
  /** Events of the owner's organization and its whole subtree. */
  Domain = 'Domain',
  /** Every event; only a caller in the root organization may choose it. */
  Global = 'Global',
}

export enum WebhookFilterMode {
  Include = 'Include',
  Exclude = 'Exclude',
}

export enum WebhookFilterMatch {
  Exact = 'Exact',
  Prefix = 'Prefix',
  Suffix = 'Suffix',
  Contains = 'Contains',
}

/** What a subscription row serves: a webhook of the API, or the endpoint of an approval hook (src/hooks). */
export enum WebhookKind {
  Webhook = 'webhook',
  /** Managed by /api/hooks; only its post-hook deliveries go through the delivery core. */
  Hook = 'hook',
}

/** One event-type filter, CloudStack's `addWebhookFilter` (mode, matchtype, value). */
export interface WebhookFilter {
  mode: WebhookFilterMode;
  match: WebhookFilterMatch;
  value: string;
}

/** A receiver of the gateway's events, owned by an organization. */
@Entity('webhook_subscriptions')
@Index('webhook_subscriptions_organization_idx', ['organizationId'])
export class WebhookSubscription extends Timestamped {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** The owner: scope is measured from here. */
  @Column({ name: 'organization_id', type: 'varchar', length: 36 })
  organizationId!: string;

  /** The user who created it (CloudStack's `User-Agent: CS-Hookshot/<owner>`). */
  @Column({ name: 'created_by', type: 'varchar', length: 36, nullable: true })
  createdBy!: string | null;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ name: 'payload_url', type: 'varchar', length: 2048 })
  payloadUrl!: string;

  /** Kept in clear: signing needs it. Never logged, answered only when created or rotated. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  secret!: string | null;

  /** The secret before the last rotation; deliveries carry both signatures until it expires. */
  @Column({ name: 'previous_secret', type: 'varchar', length: 255, nullable: true })
  previousSecret!: string | null;

  @Column({ name: 'previous_secret_expires_at', type: Date, nullable: true })
  previousSecretExpiresAt!: Date | null;

  @Column({ name: 'ssl_verification', type: 'boolean', default: true })
  sslVerification!: boolean;

  @Column({ type: 'boolean', default: true })
  enabled!: boolean;

  /** Why the gateway disabled it (a 410 from the receiver), null when a user did. */
  @Column({ name: 'disabled_reason', type: 'varchar', length: 255, nullable: true })
  disabledReason!: string | null;

  /** When it was last disabled (by a user or by the gateway); null while enabled. */
  @Column({ name: 'disabled_at', type: Date, nullable: true })
  disabledAt!: Date | null;

  /**
   * The start of its current run of failed attempts (none succeeded since), set and cleared by the
   * delivery worker; WebhookHealthJob disables it once this is WEBHOOKS_AUTO_DISABLE_AFTER_HOURS old.
   */
  @Column({ name: 'failing_since', type: Date, nullable: true })
  failingSince!: Date | null;

  @Column({ type: 'varchar', length: 16 })
  scope!: WebhookScope;

  @Column({ type: 'simple-json' })
  filters!: WebhookFilter[];

  @Column({ type: 'varchar', length: 16, default: WebhookKind.Webhook })
  kind!: WebhookKind;
}

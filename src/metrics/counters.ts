import { Counter, Registry } from 'prom-client';

/** Why an authentication failed; a fixed set, so that it stays a bounded label. */
export type AuthFailureReason = 'invalid_credentials' | 'rate_limited' | 'jwt' | 'jwks_unavailable';

/** What became of one webhook delivery attempt, as recorded. */
export type WebhookDeliveryOutcome = 'succeeded' | 'retry' | 'failed' | 'gone' | 'lost_claim';

/**
 * The counters incremented outside the metrics module (the guards, the console's sign-in, the
 * delivery worker), one set per registry (an application instance).
 */
export class Counters {
  private static readonly byRegistry = new WeakMap<Registry, Counters>();

  readonly authFailures: Counter<'reason'>;
  readonly webhookDeliveries: Counter<'outcome'>;

  private constructor(registry: Registry) {
    const registers = [registry];
    this.authFailures = new Counter({
      name: 'cyberapp_auth_failures_total',
      help: 'Refused authentications: invalid_credentials (X-CyberApp-Auth), rate_limited, jwt (platform token), jwks_unavailable.',
      labelNames: ['reason'],
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'cyberapp_webhook_deliveries_total',
      help: 'Webhook delivery attempts by recorded outcome: succeeded, retry, failed, gone (410), lost_claim.',
      labelNames: ['outcome'],
      registers,
    });
  }

  static for(registry: Registry): Counters {
    let counters = Counters.byRegistry.get(registry);
    if (!counters) Counters.byRegistry.set(registry, (counters = new Counters(registry)));
    return counters;
  }

  authFailed(reason: AuthFailureReason): void {
    this.authFailures.inc({ reason });
  }

  webhookDelivered(outcomes: readonly WebhookDeliveryOutcome[]): void {
    for (const outcome of outcomes) this.webhookDeliveries.inc({ outcome });
  }
}

import { WebhookFilter, WebhookFilterMatch, WebhookFilterMode } from './webhook-subscription.entity';

function matches(filter: WebhookFilter, type: string): boolean {
  switch (filter.match) {
    case WebhookFilterMatch.Exact:
      return type === filter.value;
    case WebhookFilterMatch.Prefix:
      return type.startsWith(filter.value);
    case WebhookFilterMatch.Suffix:
      return type.endsWith(filter.value);
    case WebhookFilterMatch.Contains:
      return type.includes(filter.value);
  }
}

/** CloudStack's rule (docs/architecture.md, flow 2): any exclude match drops the event; if includes exist, one must match. */
export function passesFilters(filters: readonly WebhookFilter[], type: string): boolean {
  let includes = 0;
  let included = false;
  for (const filter of filters) {
    if (filter.mode === WebhookFilterMode.Exclude) {
      if (matches(filter, type)) return false;
    } else {
      includes += 1;
      included ||= matches(filter, type);
    }
  }
  return includes === 0 || included;
}

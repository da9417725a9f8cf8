import { passesFilters } from './webhook-filters';
import { WebhookFilter, WebhookFilterMatch as M, WebhookFilterMode as Mode } from './webhook-subscription.entity';

const include = (match: M, value: string): WebhookFilter => ({ mode: Mode.Include, match, value });
const exclude = (match: M, value: string): WebhookFilter => ({ mode: Mode.Exclude, match, value });

describe('passesFilters', () => {
  it('passes every event when there are no filters', () => {
    expect(passesFilters([], 'user.created')).toBe(true);
  });

  it.each([
    [M.Exact, 'user.created', 'user.created', true],
    [M.Exact, 'user', 'user.created', false],
    [M.Prefix, 'user.', 'user.deleted', true],
    [M.Prefix, 'user.', 'enablement.reset', false],
    [M.Suffix, '.reset', 'enablement.reset', true],
    [M.Suffix, '.reset', 'user.password_reset', false],
    [M.Contains, 'mapping', 'tenant_mapping.written', true],
    [M.Contains, 'mapping', 'user.created', false],
  ])('an include %s "%s" decides "%s": %s', (match, value, type, expected) => {
    expect(passesFilters([include(match, value)], type)).toBe(expected);
  });

  it('needs only one of several includes to match', () => {
    expect(passesFilters([include(M.Prefix, 'user.'), include(M.Exact, 'enablement.reset')], 'enablement.reset')).toBe(true);
  });

  it('drops an event any exclude matches, even when an include matches too', () => {
    expect(passesFilters([include(M.Prefix, 'user.'), exclude(M.Exact, 'user.deleted')], 'user.deleted')).toBe(false);
    expect(passesFilters([include(M.Prefix, 'user.'), exclude(M.Exact, 'user.deleted')], 'user.created')).toBe(true);
  });

  it('passes what no exclude matches when there are only excludes', () => {
    expect(passesFilters([exclude(M.Prefix, 'connector.')], 'user.created')).toBe(true);
    expect(passesFilters([exclude(M.Prefix, 'connector.')], 'connector.run.completed')).toBe(false);
  });
});

import { Html, html } from '../html';

/** An instant as the console shows it: UTC, to the second, in a <time> with the exact value. */
export function time(iso: string | null): Html {
  if (iso === null) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')}Z</time>`;
}

/** A state as a labelled badge (text, not colour alone, carries the meaning). */
export function badge(state: string): Html {
  return html`<span class="badge badge-${state.replace(/[^a-z_-]/gi, '')}">${state.replace(/_/g, ' ')}</span>`;
}

/** The first characters of an id, the whole of it in the title. */
export function shortId(id: string): Html {
  return html`<code title="${id}">${id.slice(0, 8)}</code>`;
}

/** At most `max` characters, with an ellipsis when cut. */
export function excerpt(text: string | null, max: number): string {
  if (text === null) return '';
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The links to the first page (unless this is it) and to the next, older one (when there is one); nothing when neither. */
export function pager(newest: string | null, older: string | null, olderLabel: string): Html | '' {
  if (!newest && !older) return '';
  return html`<nav class="pager" aria-label="Pages">${newest ? html`<a href="${newest}">Newest</a>` : ''}${older ? html`<a href="${older}" rel="next">${olderLabel}</a>` : ''}</nav>`;
}

/** "1 delivery", "3 deliveries". */
export function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** An ISO 8601 instant from a form's `datetime-local` value (read as UTC) or a full ISO text; null when neither. */
export function parseInstant(value: string | undefined): string | null {
  if (value === undefined) return null;
  const text = value.trim();
  const local = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,3})?)?$/.test(text) ? `${text}Z` : text;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)$/i.test(local)) return null;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** A select's `<option>`s, `chosen` selected: each a value shown as it is, or a [value, text] pair. */
export function options(choices: ReadonlyArray<string | readonly [string, string]>, chosen: string | undefined): Html[] {
  return choices.map((c) => (typeof c === 'string' ? [c, c] : c)).map(([v, text]) => html`<option value="${v}"${v === chosen ? html` selected` : ''}>${text}</option>`);
}

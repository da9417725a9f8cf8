/**
 * HTML for the console's server-rendered pages: a tagged template whose every interpolation is
 * escaped, unless it is already {@link Html} (the result of another `html` template, or `raw`,
 * which nothing outside this file calls with data). Arrays are joined; null, undefined and false
 * render nothing. Escaping covers text and quoted attribute values alike (`& < > " '`); unquoted
 * attributes, URLs in `href` and inline scripts or styles are never built from data (URLs are
 * built with {@link url}, whose parts are percent-encoded).
 */
export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

export type Renderable = Html | string | number | boolean | null | undefined | readonly Renderable[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function render(value: Renderable): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return (value as readonly Renderable[]).map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Renderable[]): Html {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new Html(out);
}

/**
 * A path under /console with percent-encoded segments and query values (undefined ones left out):
 * `url('webhooks', id)` → `/console/webhooks/<id>`. Escaped again where interpolated.
 */
export function url(...parts: Array<string | Record<string, string | undefined>>): string {
  const segments: string[] = [];
  const query = new URLSearchParams();
  for (const part of parts) {
    if (typeof part === 'string') segments.push(encodeURIComponent(part));
    else for (const [k, v] of Object.entries(part)) if (v !== undefined) query.set(k, v);
  }
  const search = query.toString();
  return `/console/${segments.join('/')}${search ? `?${search}` : ''}`;
}

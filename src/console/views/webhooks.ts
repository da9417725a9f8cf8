import { WebhookScope } from '../../webhooks/webhook-subscription.entity';
import type { SubscriptionView } from '../../webhooks/webhooks.views';
import { MAX_DESCRIPTION, MAX_NAME, MAX_SECRET, MAX_URL } from '../../webhooks/webhooks.dto';
import { Html, html, url } from '../html';
import { badge, count, options, pager, shortId, time } from './format';
import { actionButton, AssetUrls, csrfInput, Notice, page, Viewer } from './layout';
import { DeliveryList, deliveryTable } from './deliveries';
import { asOf, section } from './overview';

/** The create form's fields as typed, to show them again with an error. */
export interface CreateForm {
  name: string;
  payload_url: string;
  description: string;
  organization_id: string;
  scope: string;
  ssl_verification: boolean;
  enabled: boolean;
}

export const EMPTY_CREATE_FORM: CreateForm = { name: '', payload_url: '', description: '', organization_id: '', scope: WebhookScope.Local, ssl_verification: true, enabled: true };

/** Enabled, failing (every attempt since a time), disabled by a user, or disabled by the gateway (with why). */
export function subscriptionState(s: SubscriptionView): Html {
  if (s.enabled) return s.failing_since ? html`${badge('enabled')} ${badge('failing')}<br><span class="small">every attempt since ${time(s.failing_since)}</span>` : badge('enabled');
  return s.disabled_reason ? html`${badge('auto-disabled')}<br><span class="small">${s.disabled_reason}</span>` : badge('disabled');
}

/**
 * The banner of a subscription the gateway disabled (a 410, or every attempt failing for
 * WEBHOOKS_AUTO_DISABLE_AFTER_HOURS): why, since when, and what enabling it does.
 */
export function disabledBanner(viewer: Viewer, s: SubscriptionView): Html {
  if (s.enabled || !s.disabled_reason) return html``;
  return html`<section class="banner" role="alert" aria-labelledby="banner-h">
<h2 id="banner-h">Disabled by the gateway${s.disabled_at ? html` on ${time(s.disabled_at)}` : ''}</h2>
<p>${s.disabled_reason}.</p>
<p>Nothing is sent to it meanwhile: its pending deliveries are held, and new events are not queued for it. Fix the receiver (send a test to check it), then enable it: the held deliveries go out at once, the oldest first.</p>
<div class="actions">${actionButton(viewer, url('webhooks', s.id, 'enabled'), 'Enable again', { fields: { enabled: 'true' }, className: 'primary' })}
<a href="${url('webhooks', s.id, 'test')}">Send a test</a></div>
</section>`;
}

function createForm(viewer: Viewer, form: CreateForm, error: string | null): Html {
  const invalid = error ? html` aria-invalid="true" aria-describedby="create-error"` : '';
  return html`<section aria-labelledby="create-h" class="card">
<h2 id="create-h">New subscription</h2>
${error ? html`<p id="create-error" class="notice notice-error" role="alert">${error}</p>` : ''}
<form method="post" action="/console/webhooks">
${csrfInput(viewer)}
<div class="field"><label for="name">Name</label><input id="name" name="name" required maxlength="${MAX_NAME}" value="${form.name}"${invalid}></div>
<div class="field"><label for="payload_url">Payload URL</label><input id="payload_url" name="payload_url" type="url" required maxlength="${MAX_URL}" value="${form.payload_url}" placeholder="https://receiver.example/hook"${invalid}></div>
<div class="field"><label for="description">Description <span class="muted">(optional)</span></label><input id="description" name="description" maxlength="${MAX_DESCRIPTION}" value="${form.description}"></div>
<div class="field"><label for="organization_id">Owner organization id <span class="muted">(optional; yours when empty)</span></label><input id="organization_id" name="organization_id" maxlength="64" value="${form.organization_id}"${invalid}></div>
<div class="field"><label for="scope">Scope</label><select id="scope" name="scope">${options(Object.values(WebhookScope), form.scope)}</select>
<span class="hint">Local: events of the owner organization; Domain: and of everything below it; Global: every event (root organization only).</span></div>
<div class="field"><label for="secret">Secret <span class="muted">(optional; generated when empty, shown once)</span></label><input id="secret" name="secret" type="password" autocomplete="new-password" maxlength="${MAX_SECRET}"></div>
<div class="check"><input id="ssl_verification" name="ssl_verification" type="checkbox" value="on"${form.ssl_verification ? html` checked` : ''}><label for="ssl_verification">Verify the receiver's TLS certificate (needs an https URL)</label></div>
<div class="check"><input id="enabled" name="enabled" type="checkbox" value="on"${form.enabled ? html` checked` : ''}><label for="enabled">Enabled</label></div>
<button type="submit" class="primary">Create subscription</button>
</form></section>`;
}

export interface WebhooksView {
  result: { items: SubscriptionView[]; more: boolean };
  /** The key of this page (the last subscription of the previous one); undefined on the first. */
  before?: string;
  form: CreateForm;
  error: string | null;
  notice?: Notice;
  at: string;
}

export function webhooksPage(assets: AssetUrls, viewer: Viewer, view: WebhooksView): Html {
  const { result, before } = view;
  const table =
    result.items.length === 0
      ? html`<p>${before ? 'No older subscriptions.' : 'No subscriptions yet.'}</p>`
      : html`<p class="muted small">${before ? 'Older subscriptions' : 'Subscriptions'} of your organization and those below it, newest first.</p>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Name</th><th scope="col">Payload URL</th><th scope="col">Owner</th><th scope="col">Scope</th><th scope="col">State</th><th scope="col">Created</th></tr></thead>
<tbody>${result.items.map(
          (s) => html`<tr><td><a href="${url('webhooks', s.id)}">${s.name}</a></td><td class="break">${s.payload_url}</td><td>${shortId(s.organization_id)}</td><td>${s.scope}</td><td>${subscriptionState(s)}</td><td>${time(s.created_at)}</td></tr>`,
        )}</tbody></table></div>`;
  const last = result.items.at(-1);
  const older = result.more && last !== undefined ? url('webhooks', { before: last.id }) : null;
  const nav = pager(before ? url('webhooks') : null, older, 'Older subscriptions');
  return page({
    title: 'Webhooks',
    assets,
    viewer,
    section: 'webhooks',
    notice: view.notice ?? null,
    body: html`${before ? '' : asOf(view.at)}
${section('subscriptions', 'Subscriptions', html`${table}${nav}`, !before)}
${createForm(viewer, view.form, view.error)}`,
  });
}

/** After create and rotate: the secret, this once. */
export function secretPage(assets: AssetUrls, viewer: Viewer, s: SubscriptionView, secret: string, created: boolean): Html {
  return page({
    title: created ? `Subscription ${s.name} created` : `New secret for ${s.name}`,
    assets,
    viewer,
    section: 'webhooks',
    notice: { kind: 'ok', text: created ? 'The subscription is saved.' : 'The secret is rotated.' },
    body: html`<section class="card" aria-labelledby="secret-h">
<h2 id="secret-h">Signing secret</h2>
<p><strong>Copy it now: it is not shown again.</strong> Receivers verify the X-CS-Signature and webhook-signature headers with it.${
      !created && s.previous_secret_expires_at ? html` The previous secret keeps signing too until ${time(s.previous_secret_expires_at)}.` : ''
    }</p>
<div class="field"><label for="secret-value">Secret</label><input id="secret-value" class="secret" readonly value="${secret}" autocomplete="off" spellcheck="false"></div>
<p><a href="${url('webhooks', s.id)}">Continue to the subscription</a></p>
</section>`,
  });
}

export type DeliveryFilter = 'all' | 'pending' | 'delivering' | 'succeeded' | 'failed' | 'dead-letters';
export const DELIVERY_FILTERS: Record<DeliveryFilter, string> = {
  all: 'All',
  pending: 'Pending',
  delivering: 'Being sent',
  succeeded: 'Succeeded',
  failed: 'Failed',
  'dead-letters': 'Failed, not replayed (dead letters)',
};

export interface SubscriptionPageView {
  subscription: SubscriptionView;
  deliveries: DeliveryList;
  filter: DeliveryFilter;
  before?: string;
  /** The replay form's default start (datetime-local, UTC). */
  defaultSince: string;
  notice?: Notice;
  at: string;
}

export function subscriptionPage(assets: AssetUrls, viewer: Viewer, view: SubscriptionPageView): Html {
  const s = view.subscription;
  const filterQuery = view.filter === 'all' ? undefined : view.filter;
  const last = view.deliveries.items.at(-1);
  const more = last !== undefined && view.deliveries.more;
  const table = deliveryTable(viewer, view.deliveries, {
    older: more ? url('webhooks', s.id, { state: filterQuery, before: last.id }) : null,
    newest: view.before ? url('webhooks', s.id, { state: filterQuery }) : null,
    empty: view.filter === 'all' ? 'No deliveries yet.' : 'No deliveries match.',
  });
  const details = html`<dl class="facts">
<dt>State</dt><dd>${subscriptionState(s)}</dd>
<dt>Payload URL</dt><dd class="break">${s.payload_url}</dd>
<dt>TLS verification</dt><dd>${s.ssl_verification ? 'on' : 'off'}</dd>
<dt>Scope</dt><dd>${s.scope}</dd>
<dt>Owner organization</dt><dd><code>${s.organization_id}</code></dd>
${s.description ? html`<dt>Description</dt><dd>${s.description}</dd>` : ''}
<dt>Event filters</dt><dd>${s.filters.length === 0 ? 'none (every event of the scope)' : s.filters.map((f) => html`<span class="chip">${f.mode} ${f.match} ${f.value}</span> `)}</dd>
<dt>Secret</dt><dd>${s.has_secret ? 'set' : 'none (deliveries are not signed)'}${s.previous_secret_expires_at ? html`; the previous one signs too until ${time(s.previous_secret_expires_at)}` : ''}</dd>
<dt>Created</dt><dd>${time(s.created_at)}</dd>
</dl>`;
  const actions = html`<div class="actions">
<a href="${url('webhooks', s.id, 'edit')}">Edit</a>
<a href="${url('webhooks', s.id, 'test')}">Send a test</a>
${actionButton(viewer, url('webhooks', s.id, 'enabled'), s.enabled ? 'Disable' : 'Enable', { fields: { enabled: s.enabled ? 'false' : 'true' } })}
${actionButton(viewer, url('webhooks', s.id, 'rotate-secret'), 'Rotate secret', { confirm: 'Rotate the secret? The new one is shown once; the previous one keeps signing for the overlap.' })}
</div>`;
  const replay = html`<section class="card" aria-labelledby="replay-h"><h2 id="replay-h">Replay failed deliveries</h2>
<form method="get" action="${url('webhooks', s.id, 'replay-failed')}">
<div class="field"><label for="since">Failed deliveries created since (UTC)</label><input id="since" name="since" type="datetime-local" step="1" required value="${view.defaultSince}"></div>
<button type="submit">Count them…</button> <span class="muted small">You confirm on the next page.</span>
</form></section>`;
  const filter = html`<form method="get" action="${url('webhooks', s.id)}" class="filter">
<label for="state">Show</label> <select id="state" name="state">${options(Object.entries(DELIVERY_FILTERS), view.filter)}</select> <button type="submit">Apply</button></form>`;
  return page({
    title: s.name,
    assets,
    viewer,
    section: 'webhooks',
    notice: view.notice ?? null,
    body: html`<p><a href="/console/webhooks">All subscriptions</a></p>
${disabledBanner(viewer, s)}
${details}
${actions}
${replay}
${view.before ? '' : asOf(view.at)}
<section aria-labelledby="deliveries-h"><h2 id="deliveries-h">Deliveries</h2>${filter}
${view.before ? html`<div id="delivery-list">${table}</div>` : html`<div id="delivery-list" data-refresh>${table}</div>`}
</section>`,
  });
}

export interface ReplayConfirmView {
  subscription: SubscriptionView;
  since: string;
  until: string;
  count: number;
  /** The count stopped at its ceiling: at least `count` are waiting. */
  capped: boolean;
  max: number;
}

export function replayConfirmPage(assets: AssetUrls, viewer: Viewer, view: ReplayConfirmView): Html {
  const s = view.subscription;
  const n = Math.min(view.count, view.max);
  const body =
    view.count === 0
      ? html`<p>No failed delivery of <a href="${url('webhooks', s.id)}">${s.name}</a> created between ${time(view.since)} and ${time(view.until)} is waiting for a replay.</p>
<p><a href="${url('webhooks', s.id)}">Back to the subscription</a></p>`
      : html`<p><strong>${view.capped ? 'More than ' : ''}${count(view.count, 'failed delivery', 'failed deliveries')}</strong> of <a href="${url('webhooks', s.id)}">${s.name}</a>, created between ${time(view.since)} and ${time(view.until)}, ${view.count === 1 && !view.capped ? 'has' : 'have'} not been replayed.${
          view.count > view.max ? html` At most ${view.max} are replayed at once, the oldest first; confirm again for the rest.` : ''
        }</p>
<p>Each is delivered again as a new delivery: same event id, same body bytes, signed afresh, to ${html`<span class="break">${s.payload_url}</span>`}.</p>
<form method="post" action="${url('webhooks', s.id, 'replay-failed')}" class="actions">
${csrfInput(viewer)}
<input type="hidden" name="since" value="${view.since}">
<input type="hidden" name="until" value="${view.until}">
<button type="submit" class="primary">Replay ${count(n, 'delivery', 'deliveries')}</button>
<a href="${url('webhooks', s.id)}">Cancel</a>
</form>`;
  return page({ title: 'Replay failed deliveries', assets, viewer, section: 'webhooks', body });
}

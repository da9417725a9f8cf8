import type { AttemptView, DeliveryView } from '../../webhooks/webhooks.views';
import { DeliveryState } from '../../webhooks/webhook-delivery.entity';
import type { SubscriptionView } from '../../webhooks/webhooks.views';
import { Html, html, url } from '../html';
import { badge, excerpt, pager, shortId, time } from './format';
import { actionButton, AssetUrls, Notice, page, Viewer } from './layout';
import { asOf, refreshing, section } from './overview';

/** A page of deliveries as the console reads it: by key, without a total. */
export interface DeliveryList {
  items: DeliveryView[];
  /** Older deliveries follow this page. */
  more: boolean;
}

export interface DeliveryTableOptions {
  /** Subscription names by id, to show a column of them (lists across subscriptions). */
  subscriptions?: Map<string, string>;
  /** A Replay button on each row. */
  replay?: boolean;
  /** The URL of the next (older) page, when there is one. */
  older?: string | null;
  /** The URL of the first page, when this is not it. */
  newest?: string | null;
  empty: string;
}

export function deliveryTable(viewer: Viewer, result: DeliveryList, options: DeliveryTableOptions): Html {
  const nav = pager(options.newest ?? null, options.older ?? null, 'Older deliveries');
  if (result.items.length === 0) return html`<p>${options.empty}</p>${nav}`;
  const names = options.subscriptions;
  return html`<p class="muted small">${options.newest ? 'Older deliveries' : 'The latest deliveries'}, newest first.</p>
<div class="table-wrap"><table class="deliveries">
<thead><tr><th scope="col">Created</th>${names ? html`<th scope="col">Subscription</th>` : ''}<th scope="col">Event</th><th scope="col">State</th><th scope="col">Attempts</th><th scope="col">Last result</th>${options.replay ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : ''}</tr></thead>
<tbody>${result.items.map(
    (d) => html`<tr>
<td><a href="${url('deliveries', d.id)}" aria-label="Delivery ${d.id}">${time(d.created_at)}</a></td>
${names ? html`<td><a href="${url('webhooks', d.subscription_id)}">${names.get(d.subscription_id) ?? d.subscription_id}</a></td>` : ''}
<td>${d.event_type}<br><span class="muted small">${shortId(d.event_id)}${d.redelivery_of ? ' · replay' : ''}</span></td>
<td>${badge(d.state)}</td>
<td>${d.attempt_count}</td>
<td>${d.last_status !== null ? `HTTP ${d.last_status}` : ''}${d.last_error ? html`<br><span class="small">${excerpt(d.last_error, 120)}</span>` : ''}</td>
${options.replay ? html`<td>${actionButton(viewer, url('deliveries', d.id, 'replay'), 'Replay')}</td>` : ''}
</tr>`,
  )}</tbody></table></div>${nav}`;
}

/** The exact request of an attempt: request line, every header as sent, a blank line, the body bytes. */
function requestText(attempt: AttemptView, payload: string): string | null {
  if (attempt.request === null) return null;
  const target = URL.canParse(attempt.request.url) ? new URL(attempt.request.url) : null;
  const head = `${attempt.request.method} ${target ? target.pathname + target.search : attempt.request.url} HTTP/1.1`;
  const headers = Object.entries(attempt.request.headers).map(([name, value]) => `${name}: ${value}`);
  return [head, ...headers, '', payload].join('\n');
}

function attemptItem(d: DeliveryView, a: AttemptView): Html {
  const request = requestText(a, d.payload);
  return html`<li class="attempt ${a.success ? 'ok' : 'bad'}" id="attempt-${a.attempt}">
<h3>Attempt ${a.attempt}: ${badge(a.success ? 'succeeded' : 'failed')}</h3>
<dl class="facts">
<dt>Started</dt><dd>${time(a.started_at)}</dd>
<dt>Duration</dt><dd>${a.duration_ms} ms</dd>
<dt>Status</dt><dd>${a.status_code === null ? 'no answer' : `HTTP ${a.status_code}`}</dd>
<dt>Error class</dt><dd>${a.error_class ?? '—'}</dd>
${a.error ? html`<dt>Error</dt><dd>${a.error}</dd>` : ''}
</dl>
<details><summary>Response excerpt${a.response_body === null ? ' (none)' : ''}</summary><pre class="response">${a.response_body ?? ''}</pre></details>
<details><summary>Exact request sent</summary>${
    request === null
      ? html`<p>Not recorded: this attempt was made before the gateway kept requests.</p>`
      : html`<p class="muted small">To ${a.request?.url ?? ''}; headers as sent, then the body bytes (${Buffer.byteLength(d.payload, 'utf8')} bytes, the same on every attempt).</p><pre class="request">${request}</pre>`
  }</details>
</li>`;
}

export interface DeliveryPageView {
  delivery: DeliveryView;
  subscription: SubscriptionView;
  notice?: Notice;
  at: string;
}

export function deliveryPage(assets: AssetUrls, viewer: Viewer, view: DeliveryPageView): Html {
  const d = view.delivery;
  const s = view.subscription;
  const summary = html`<dl class="facts">
<dt>State</dt><dd>${badge(d.state)}</dd>
<dt>Subscription</dt><dd><a href="${url('webhooks', s.id)}">${s.name}</a></dd>
<dt>Event</dt><dd>${d.event_type} <code>${d.event_id}</code><br><a href="${url('events', d.event_id)}">Every delivery of this event</a></dd>
<dt>Created</dt><dd>${time(d.created_at)}</dd>
<dt>Attempts</dt><dd>${d.attempt_count}</dd>
${d.state === DeliveryState.Pending ? html`<dt>Next attempt</dt><dd>${time(d.next_attempt_at)}</dd>` : ''}
<dt>Finished</dt><dd>${time(d.completed_at)}</dd>
${d.last_error ? html`<dt>Last error</dt><dd>${d.last_error}</dd>` : ''}
${d.redelivery_of ? html`<dt>Replay of</dt><dd><a href="${url('deliveries', d.redelivery_of)}">${d.redelivery_of}</a></dd>` : ''}
</dl>`;
  const timeline =
    d.attempts.length === 0
      ? html`<p>No attempt yet${d.state === DeliveryState.Pending ? '; the delivery worker sends it when it is due.' : '.'}</p>`
      : html`<ol class="timeline">${d.attempts.map((a) => attemptItem(d, a))}</ol>`;
  // Only a delivery still on its way changes: a finished one is not refreshed (and a refresh that finds it finished stops).
  const open = d.state === DeliveryState.Pending || d.state === DeliveryState.Delivering;
  return page({
    title: `Delivery of ${d.event_type}`,
    assets,
    viewer,
    section: 'webhooks',
    notice: view.notice ?? null,
    body: html`${open ? asOf(view.at) : html`<p id="as-of" class="muted small">As of ${time(view.at)}.</p>`}
${section('summary', 'Summary', summary, open)}
<div class="actions">${actionButton(viewer, url('deliveries', d.id, 'replay'), 'Replay this delivery')}
<span class="muted small">Sends the same event again (same event id, same body bytes) as a new delivery.</span></div>
${section('timeline', 'Attempts', timeline, open)}`,
  });
}

export interface DeadLettersView {
  result: DeliveryList;
  subscriptions: Map<string, string>;
  before?: string;
  at: string;
  notice?: Notice;
}

export function deadLettersPage(assets: AssetUrls, viewer: Viewer, view: DeadLettersView): Html {
  const last = view.result.items.at(-1);
  const more = last !== undefined && view.result.more;
  const table = deliveryTable(viewer, view.result, {
    subscriptions: view.subscriptions,
    replay: true,
    older: more ? url('dead-letters', { before: last.id }) : null,
    newest: view.before ? url('dead-letters') : null,
    empty: 'No dead letters: every failed delivery has been replayed, or none failed.',
  });
  return page({
    title: 'Dead letters',
    assets,
    viewer,
    section: 'dead-letters',
    notice: view.notice ?? null,
    body: html`<p>Deliveries the worker gave up on (after the last retry, a 410, or a refused address) and that nobody has replayed yet, across every subscription you can see.</p>
${view.before ? '' : asOf(view.at)}
${view.before ? html`<section aria-label="Dead letters">${table}</section>` : refreshing('dead-letters', 'Failed deliveries', table)}`,
  });
}

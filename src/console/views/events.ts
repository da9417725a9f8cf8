import type { AttemptView, DeliveryView } from '../../webhooks/webhooks.views';
import { DeliveryState } from '../../webhooks/webhook-delivery.entity';
import { Html, html, url } from '../html';
import { DeliveryList } from './deliveries';
import { badge, excerpt, pager, time } from './format';
import { AssetUrls, page, Viewer } from './layout';
import { asOf, section } from './overview';

export interface EventTimelineView {
  eventId: string;
  result: DeliveryList;
  /** Subscription names by id. */
  subscriptions: Map<string, string>;
  before?: string;
  at: string;
}

function attemptRow(a: AttemptView): Html {
  return html`<tr class="${a.success ? 'ok' : 'bad'}"><td>${a.attempt}</td><td>${time(a.started_at)}</td><td>${a.duration_ms} ms</td><td>${a.status_code === null ? 'no answer' : `HTTP ${a.status_code}`}</td><td>${a.error_class ?? '—'}</td><td class="break">${excerpt(a.response_body ?? a.error, 120)}</td></tr>`;
}

function deliveryItem(d: DeliveryView, name: string): Html {
  const attempts =
    d.attempts.length === 0
      ? html`<p class="muted small">No attempt yet${d.state === DeliveryState.Pending ? html`; due ${time(d.next_attempt_at)}` : ''}.</p>`
      : html`<div class="table-wrap"><table class="attempts">
<caption class="visually-hidden">Attempts of the delivery to ${name}</caption>
<thead><tr><th scope="col">Attempt</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Status</th><th scope="col">Error class</th><th scope="col">Answer or error</th></tr></thead>
<tbody>${d.attempts.map(attemptRow)}</tbody></table></div>`;
  return html`<li class="event-delivery" id="delivery-${d.id}">
<h3><a href="${url('webhooks', d.subscription_id)}">${name}</a>: ${badge(d.state)}</h3>
<p class="small">Delivery <a href="${url('deliveries', d.id)}"><code>${d.id}</code></a>, created ${time(d.created_at)}${
    d.redelivery_of ? html`, a replay of <a href="${url('deliveries', d.redelivery_of)}"><code>${d.redelivery_of.slice(0, 8)}</code></a>` : ''
  }.</p>
${attempts}
</li>`;
}

/**
 * `/console/events/<event id>`: every delivery of one event that the caller can see (to each of
 * its subscriptions, replays included), newest first, each with its attempts.
 */
export function eventPage(assets: AssetUrls, viewer: Viewer, view: EventTimelineView): Html {
  const { result, before } = view;
  const first = result.items[0];
  const last = result.items.at(-1);
  const older = result.more && last !== undefined ? url('events', view.eventId, { before: last.id }) : null;
  const nav = pager(before ? url('events', view.eventId) : null, older, 'Older deliveries');
  const list =
    result.items.length === 0
      ? html`<p>No older deliveries.</p>${nav}`
      : html`<ol class="timeline">${result.items.map((d) => deliveryItem(d, view.subscriptions.get(d.subscription_id) ?? d.subscription_id))}</ol>${nav}`;
  const open = result.items.some((d) => d.state === DeliveryState.Pending || d.state === DeliveryState.Delivering);
  const facts = first
    ? html`<dl class="facts">
<dt>Event id</dt><dd><code>${view.eventId}</code></dd>
<dt>Type</dt><dd>${first.event_type}</dd>
<dt>Organization</dt><dd>${first.organization_id ? html`<code>${first.organization_id}</code>` : 'none (a Global event)'}</dd>
<dt>Body</dt><dd><pre class="request">${first.payload}</pre></dd>
</dl>`
    : '';
  return page({
    title: first ? `Event ${first.event_type}` : 'Event',
    assets,
    viewer,
    section: 'webhooks',
    body: html`${facts}
<p class="muted small">Every delivery of this event to the subscriptions you can see, newest first, with each attempt.</p>
${open && !before ? asOf(view.at) : ''}
${section('event-deliveries', 'Deliveries', list, open && !before)}`,
  });
}

import { ITEM_QUEUE_STATES } from '../../connector/connector-items.service';
import type { ConnectorItemDetailView, ConnectorItemPage, ConnectorItemView, ConnectorRunPage } from '../../connector/connector.views';
import type { CappedCount } from '../../common/state-counts';
import { ConnectorItemKind, ConnectorItemState } from '../../connector/connector-item.entity';
import { Html, html, url } from '../html';
import { badge, excerpt, options, pager, shortId, time } from './format';
import { actionButton, AssetUrls, Notice, page, Viewer } from './layout';
import { asOf, refreshing, section } from './overview';

/** The states "send now" applies to. */
const SENDABLE = new Set<string>([ConnectorItemState.Pending, ConnectorItemState.Failed]);
export const ITEM_STATES = Object.values(ConnectorItemState);
/** The states counted on the page: the queue. Sent and cancelled items are history, listed but not counted. */
const COUNTED_STATES: readonly ConnectorItemState[] = ITEM_QUEUE_STATES;

/** One line saying what an item carries: the alert's title, the workload's name and key, what is removed or dismissed. */
export function itemSummary(item: ConnectorItemView, body: Record<string, unknown> | undefined): string {
  if (!body) return item.kind;
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  switch (item.kind) {
    case ConnectorItemKind.Alert: {
      const details = (body.details ?? {}) as Record<string, unknown>;
      return `${text(details.title)} (${text(details.category)})`;
    }
    case ConnectorItemKind.Workload:
      return `${text(body.name)}${body.key !== undefined ? ` (key ${text(body.key)})` : ''}`;
    case ConnectorItemKind.WorkloadRemoval:
      return `remove workload key ${text(body.key)}`;
    case ConnectorItemKind.AlertDismissal:
      return `dismiss alert ${text(body.alert_key)}`;
    default:
      return item.kind;
  }
}

export interface ConnectorView {
  /** The open states' counts, each stopped at CONSOLE_OVERVIEW_COUNT_CAP. */
  counts: Record<(typeof ITEM_QUEUE_STATES)[number], CappedCount>;
  result: ConnectorItemPage;
  state?: ConnectorItemState;
  before?: string;
  /** Users of the root organization see the runs link. */
  vendor: boolean;
  notice?: Notice;
  at: string;
}

function itemTable(viewer: Viewer, view: ConnectorView): Html {
  const nav = pager(
    view.before ? url('connector', { state: view.state }) : null,
    view.result.next_before ? url('connector', { state: view.state, before: view.result.next_before }) : null,
    'Older items',
  );
  if (view.result.items.length === 0) return html`<p>${view.state ? 'No items match.' : 'No connector items yet.'}</p>${nav}`;
  return html`<div class="table-wrap"><table class="items">
<thead><tr><th scope="col">Created</th><th scope="col">Kind</th><th scope="col">State</th><th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col">Organization</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>${view.result.items.map(
    (i) => html`<tr>
<td><a href="${url('connector', 'items', i.id)}" aria-label="Item ${i.id}">${time(i.created_at)}</a></td>
<td>${i.kind}<br><span class="muted small">${i.source}</span></td>
<td>${badge(i.state)}${i.waiting_reason ? html`<br><span class="small">${excerpt(i.waiting_reason, 80)}</span>` : ''}</td>
<td>${i.attempts}</td>
<td>${i.last_status !== null ? `HTTP ${i.last_status}` : ''}${i.last_error ? html`<br><span class="small">${excerpt(i.last_error, 120)}</span>` : ''}</td>
<td>${shortId(i.organization_id)}</td>
<td>${SENDABLE.has(i.state) ? actionButton(viewer, url('connector', 'items', i.id, 'send-now'), 'Send now') : ''}</td>
</tr>`,
  )}</tbody></table></div>${nav}`;
}

export function connectorPage(assets: AssetUrls, viewer: Viewer, view: ConnectorView): Html {
  const counted = (s: ConnectorItemState): CappedCount | undefined => (COUNTED_STATES.includes(s) ? view.counts[s as (typeof ITEM_QUEUE_STATES)[number]] : undefined);
  const counts = html`<ul class="counts">${ITEM_STATES.map((s) => {
    const c = counted(s);
    return c
      ? html`<li${s === ConnectorItemState.Failed && c.count > 0 ? html` class="alarm"` : ''}><a href="${url('connector', { state: s })}"><strong>${c.count}${c.capped ? '+' : ''}</strong> ${s}</a></li>`
      : html`<li><a href="${url('connector', { state: s })}">${s}</a></li>`;
  },
  )}</ul>`;
  const filter = html`<form method="get" action="/console/connector" class="filter">
<label for="state">Show</label> <select id="state" name="state"><option value="">All states</option>${options(ITEM_STATES, view.state)}</select> <button type="submit">Apply</button></form>`;
  const table = itemTable(viewer, view);
  return page({
    title: 'Connector',
    assets,
    viewer,
    section: 'connector',
    notice: view.notice ?? null,
    body: html`<p>Alerts and workloads queued for the Acronis tenants your organization and those below it are mapped to, newest first. "Send now" makes a pending or failed item due at once and asks for a run.${
      view.vendor ? html` <a href="/console/connector/runs">Connector runs</a>` : ''
    }</p>
${asOf(view.at)}
${refreshing('item-counts', 'Items by state', counts)}
<section aria-labelledby="items-h"><h2 id="items-h">Items</h2>${filter}
${view.before ? html`<div id="item-list">${table}</div>` : html`<div id="item-list" data-refresh>${table}</div>`}
</section>`,
  });
}

export interface ItemPageView {
  item: ConnectorItemDetailView;
  notice?: Notice;
  at: string;
}

export function itemPage(assets: AssetUrls, viewer: Viewer, view: ItemPageView): Html {
  const i = view.item;
  const body = (i.alert ?? i.workload ?? i.alert_dismissal ?? i.workload_removal) as Record<string, unknown> | undefined;
  const summary = html`<dl class="facts">
<dt>State</dt><dd>${badge(i.state)}${i.waiting_reason ? html` <span class="small">${i.waiting_reason}</span>` : ''}</dd>
<dt>Kind</dt><dd>${i.kind} <span class="muted small">(${i.source})</span></dd>
<dt>What</dt><dd>${itemSummary(i, body)}</dd>
<dt>Organization</dt><dd><code>${i.organization_id}</code></dd>
${i.idempotency_key !== null ? html`<dt>Idempotency key</dt><dd><code>${i.idempotency_key}</code></dd>` : ''}
<dt>Attempts</dt><dd>${i.attempts}</dd>
${i.state === ConnectorItemState.Pending ? html`<dt>Next attempt</dt><dd>${time(i.next_attempt_at)}</dd>` : ''}
<dt>Last status</dt><dd>${i.last_status === null ? html`<span class="muted">—</span>` : `HTTP ${i.last_status}`}</dd>
<dt>Last error</dt><dd>${i.last_error ?? html`<span class="muted">—</span>`}</dd>
<dt>Sent to</dt><dd>${i.acronis_tenant_id ? html`tenant <code>${i.acronis_tenant_id}</code>${i.acronis_dc_url ? html` at ${i.acronis_dc_url}` : ''}` : html`<span class="muted">—</span>`}</dd>
${i.remote_id ? html`<dt>Acronis id</dt><dd><code>${i.remote_id}</code></dd>` : ''}
<dt>Created</dt><dd>${time(i.created_at)}</dd>
<dt>Changed</dt><dd>${time(i.updated_at)}</dd>
<dt>Sent</dt><dd>${time(i.sent_at)}</dd>
${i.dismissed_at ? html`<dt>Dismissed</dt><dd>${time(i.dismissed_at)}</dd>` : ''}
</dl>`;
  // Only an item still on its way changes: a finished one is not refreshed.
  const open = i.state === ConnectorItemState.Pending || i.state === ConnectorItemState.Sending;
  const actions = SENDABLE.has(i.state)
    ? html`<div class="actions">${actionButton(viewer, url('connector', 'items', i.id, 'send-now'), 'Send now')}<span class="muted small">Makes the item due at once and asks for a connector run.</span></div>`
    : '';
  return page({
    title: `Connector item: ${i.kind}`,
    assets,
    viewer,
    section: 'connector',
    notice: view.notice ?? null,
    body: html`<p><a href="/console/connector">All connector items</a></p>
${open ? asOf(view.at) : html`<p id="as-of" class="muted small">As of ${time(view.at)}.</p>`}
${section('item', 'Item', summary, open)}
${actions}
${section('payload', 'Payload', html`<p class="muted small">As submitted (the tenant is added when it is sent).</p><pre class="payload">${JSON.stringify(body ?? {}, null, 2)}</pre>`)}`,
  });
}

export interface RunsView {
  result: ConnectorRunPage;
  before?: string;
  at: string;
}

export function runsPage(assets: AssetUrls, viewer: Viewer, view: RunsView): Html {
  const nav = pager(view.before ? url('connector', 'runs') : null, view.result.next_before ? url('connector', 'runs', { before: view.result.next_before }) : null, 'Older runs');
  const table =
    view.result.items.length === 0
      ? html`<p>No runs yet.</p>${nav}`
      : html`<div class="table-wrap"><table class="runs">
<thead><tr><th scope="col">Started</th><th scope="col">Trigger</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Sent</th><th scope="col">Failed</th><th scope="col">Skipped</th><th scope="col">Error</th></tr></thead>
<tbody>${view.result.items.map(
          (r) => html`<tr>
<td>${time(r.started_at)}</td>
<td>${r.trigger}<br><span class="muted small">${excerpt(r.holder, 40)}</span></td>
<td>${badge(r.status)}</td>
<td>${r.duration_ms === null ? html`<span class="muted">running</span>` : `${r.duration_ms} ms`}</td>
<td>${r.sent}</td>
<td>${r.failed}</td>
<td>${r.skipped}</td>
<td>${r.error ? html`<span class="small">${excerpt(r.error, 160)}</span>` : ''}</td>
</tr>`,
        )}</tbody></table></div>${nav}`;
  return page({
    title: 'Connector runs',
    assets,
    viewer,
    section: 'connector',
    body: html`<p>Each pass of the connector over every organization's due items (one replica at a time, under the lease), newest first. Skipped: items left waiting (retry not due yet, organization not mapped). <a href="/console/connector">Connector items</a></p>
${view.before ? html`<section aria-label="Runs">${table}</section>` : html`${asOf(view.at)}
${refreshing('runs', 'Runs', table)}`}`,
  });
}

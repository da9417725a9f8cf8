import type { ActionView, HandlerView } from '../../actions/actions.views';
import { ActionState, OPEN_STATES } from '../../actions/action.entity';
import { Html, html, url } from '../html';
import { badge, excerpt, options, pager, shortId, time } from './format';
import { AssetUrls, page, Viewer } from './layout';
import { asOf, refreshing, section } from './overview';

export type ActionFilter = 'all' | ActionState;
export const ACTION_FILTERS: Record<ActionFilter, string> = {
  all: 'All',
  [ActionState.Pending]: 'Pending (not sent yet)',
  [ActionState.Sent]: 'Sent',
  [ActionState.Acknowledged]: 'Acknowledged (running)',
  [ActionState.Completed]: 'Completed',
  [ActionState.Expired]: 'Expired',
  [ActionState.Failed]: 'Failed (refused by the handler)',
};

/** A result's message, short: what the list shows of it. */
function resultLine(a: ActionView): string {
  if (a.result === null) return '';
  const message = (a.result as { message?: unknown }).message;
  return `${a.result_code ?? ''} ${typeof message === 'string' ? excerpt(message, 100) : ''}`.trim();
}

function handlerName(handlers: Map<string, HandlerView>, id: string): Html {
  const h = handlers.get(id);
  return h ? html`${h.name}` : shortId(id);
}

export interface ActionsListView {
  items: ActionView[];
  more: boolean;
  handlers: Map<string, HandlerView>;
  filter: ActionFilter;
  capability: string;
  /** A handler id to show only its actions ('' for every handler). */
  handler: string;
  before?: string;
  at: string;
}

export function actionsPage(assets: AssetUrls, viewer: Viewer, view: ActionsListView): Html {
  const state = view.filter === 'all' ? undefined : view.filter;
  const capability = view.capability === '' ? undefined : view.capability;
  const handler = view.handler === '' ? undefined : view.handler;
  const last = view.items.at(-1);
  const older = view.more && last ? url('actions', { state, capability, handler, before: last.id }) : null;
  const newest = view.before ? url('actions', { state, capability, handler }) : null;
  const nav = pager(newest, older, 'Older actions');
  const filtered = view.filter !== 'all' || view.capability !== '' || view.handler !== '';
  const table =
    view.items.length === 0
      ? html`<p>${filtered ? 'No actions match.' : 'No actions yet.'}</p>${nav}`
      : html`<div class="table-wrap"><table class="actions-ledger">
<thead><tr><th scope="col">Submitted</th><th scope="col">Capability</th><th scope="col">Handler</th><th scope="col">State</th><th scope="col">Sent</th><th scope="col">Result</th></tr></thead>
<tbody>${view.items.map(
          (a) => html`<tr><td><a href="${url('actions', a.id)}" aria-label="Action ${a.id}">${time(a.submitted_at)}</a></td><td>${a.capability}</td><td>${handlerName(view.handlers, a.handler_id)}</td>
<td>${badge(a.state)}</td><td>${a.send_count}×</td><td class="small">${resultLine(a)}</td></tr>`,
        )}</tbody></table></div>${nav}`;
  const filter = html`<form method="get" action="/console/actions" class="filter">
<label for="state">State</label> <select id="state" name="state">${options(Object.entries(ACTION_FILTERS), view.filter)}</select>
<label for="capability">Capability</label> <input id="capability" name="capability" maxlength="255" value="${view.capability}" placeholder="any">
${handler ? html`<input type="hidden" name="handler" value="${handler}">` : ''}<button type="submit">Apply</button></form>
${handler ? html`<p>Only the actions of handler ${handlerName(view.handlers, handler)}. <a href="${url('actions', { state, capability })}">Every handler</a></p>` : ''}`;
  return page({
    title: 'Actions',
    assets,
    viewer,
    section: 'actions',
    body: html`<p>The action ledger: every action submitted to the on-premises handlers of your organization and those below it, newest first, 50 a page. <a href="/console/action-handlers">Handlers</a></p>
${filter}
${view.before ? html`<section aria-label="Actions">${table}</section>` : html`${asOf(view.at)}${refreshing('ledger', 'Ledger', table)}`}`,
  });
}

export interface HandlersView {
  items: HandlerView[];
  at: string;
}

export function handlersPage(assets: AssetUrls, viewer: Viewer, view: HandlersView): Html {
  const table =
    view.items.length === 0
      ? html`<p>No action handlers yet. Issue a credential with POST /api/actions/handlers.</p>`
      : html`<div class="table-wrap"><table class="handlers">
<thead><tr><th scope="col">Name</th><th scope="col">Connected now</th><th scope="col">Last seen</th><th scope="col">Owner</th><th scope="col">Token</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Its actions</span></th></tr></thead>
<tbody>${view.items.map(
          (h) => html`<tr id="handler-${h.id}"><td>${h.name}</td><td>${badge(h.connected ? 'connected' : 'not_connected')}</td><td>${time(h.last_seen_at)}</td><td>${shortId(h.organization_id)}</td>
<td>${h.revoked_at ? html`${badge('revoked')} ${time(h.revoked_at)}` : 'active'}</td><td>${time(h.created_at)}</td><td><a href="${url('actions', { handler: h.id })}">Actions</a></td></tr>`,
        )}</tbody></table></div>`;
  return page({
    title: 'Action handlers',
    assets,
    viewer,
    section: 'actions',
    body: html`<p>On-premises handlers of your organization and those below it. "Connected now" is this gateway process's WebSocket channel; "last seen" is recorded when a handler connects, leaves, and at every ping round while connected (every replica writes it). <a href="/console/actions">The ledger</a></p>
${asOf(view.at)}
${refreshing('handlers', 'Handlers', table)}`,
  });
}

/** JSON as text for a <pre>: indented. */
const pretty = (value: unknown): string => JSON.stringify(value, null, 2);

export interface ActionPageView {
  action: ActionView;
  handler: HandlerView;
  at: string;
}

export function actionPage(assets: AssetUrls, viewer: Viewer, view: ActionPageView): Html {
  const a = view.action;
  const open = OPEN_STATES.includes(a.state);
  const summary = html`<dl class="facts">
<dt>State</dt><dd>${badge(a.state)}</dd>
<dt>Capability</dt><dd>${a.capability}</dd>
<dt>Handler</dt><dd>${view.handler.name} ${badge(view.handler.connected ? 'connected' : 'not_connected')}</dd>
<dt>Organization</dt><dd><code>${a.organization_id}</code></dd>
<dt>Submitted</dt><dd>${time(a.submitted_at)}${a.submitted_by ? html` by ${a.submitted_by}` : ''}</dd>
<dt>Sent</dt><dd>${time(a.sent_at)}${a.send_count > 1 ? html` (${a.send_count} times)` : ''}</dd>
<dt>Acknowledged</dt><dd>${time(a.acked_at)}</dd>
<dt>Finished</dt><dd>${time(a.completed_at)}</dd>
<dt>Expires</dt><dd>${time(a.expires_at)} <span class="muted small">(timeout ${a.timeout_ms} ms)</span></dd>
</dl>
<h3>Parameters</h3><pre class="parameters">${pretty(a.parameters)}</pre>`;
  const result =
    a.result === null
      ? html`<p>${open ? 'No result yet: the handler answers when the action has run.' : a.state === ActionState.Expired ? 'None: the action expired before the handler answered.' : 'None.'}</p>`
      : html`<dl class="facts"><dt>Code</dt><dd>${a.result_code ?? '—'}</dd></dl><pre class="result">${pretty(a.result)}</pre>`;
  return page({
    title: `Action ${a.capability}`,
    assets,
    viewer,
    section: 'actions',
    body: html`<p><a href="/console/actions">The ledger</a></p>
${open ? asOf(view.at) : html`<p id="as-of" class="muted small">As of ${time(view.at)}.</p>`}
${section('summary', 'Action', summary, open)}
${section('result', 'Result', result, open)}`,
  });
}

import type { DecisionPage, DecisionView, HookPage, HookView } from '../../hooks/hooks.views';
import { HOOK_OPERATIONS, HookDecisionOutcome, HookFailurePolicy, HookPhase } from '../../hooks/hook-operation';
import { Html, html, url } from '../html';
import { badge, count, excerpt, options, pager, shortId, time } from './format';
import { AssetUrls, page, Viewer } from './layout';
import { asOf, refreshing, section } from './overview';

/** The decision log's outcome filter: what the hook answered, or that it gave no valid answer. */
export type DecisionFilter = 'all' | 'approved' | 'vetoed' | 'error';
export const DECISION_FILTERS: Record<DecisionFilter, string> = {
  all: 'All',
  approved: 'Approved',
  vetoed: 'Vetoed',
  error: 'Error (decided by the failure policy)',
};

/** How a decision reads: approve, veto, or error (with what its failure policy made of it). */
export function decisionOutcome(d: DecisionView): Html {
  if (d.policy_applied) {
    return html`<span class="badge badge-hook-error">error</span> <span class="small">${d.error_class ?? 'error'}: ${d.outcome === HookDecisionOutcome.Approved ? 'approved' : 'vetoed'} by ${d.failure_policy}</span>`;
  }
  return d.outcome === HookDecisionOutcome.Approved ? badge('approved') : html`<span class="badge badge-rejected">vetoed</span>`;
}

function hookState(h: HookView): Html {
  return h.enabled ? badge('enabled') : html`${badge('disabled')}${h.disabled_reason ? html`<br><span class="small">${h.disabled_reason}</span>` : ''}`;
}

const operations = (h: HookView): Html => html`${h.operations.map((o) => html`<span class="chip">${o}</span> `)}`;

export interface HooksView {
  result: HookPage;
  before?: string;
  at: string;
}

export function hooksPage(assets: AssetUrls, viewer: Viewer, view: HooksView): Html {
  const { result } = view;
  const last = result.items.at(-1);
  const more = last !== undefined && result.total > result.items.length;
  const nav = pager(view.before ? url('hooks') : null, more ? url('hooks', { before: last.id }) : null, 'Older hooks');
  const table =
    result.items.length === 0
      ? html`<p>${view.before ? 'No older hooks.' : 'No approval hooks. They are registered through the API (POST /api/hooks) or the hooks command.'}</p>${nav}`
      : html`<p class="muted small">${count(result.total, 'hook endpoint', 'hook endpoints')}${view.before ? ' from here on' : ''} of your organization and those below it, newest first.</p>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Name</th><th scope="col">URL</th><th scope="col">Operations</th><th scope="col">Phase</th><th scope="col">On failure</th><th scope="col">Timeout</th><th scope="col">State</th><th scope="col">Owner</th></tr></thead>
<tbody>${result.items.map(
          (h) => html`<tr><td><a href="${url('hooks', h.id)}">${h.name}</a></td><td class="break">${h.url}</td><td>${operations(h)}</td><td>${h.phase}</td><td>${h.failure_policy}</td><td>${h.timeout_ms} ms</td><td>${hookState(h)}</td><td>${shortId(h.organization_id)}</td></tr>`,
        )}</tbody></table></div>${nav}`;
  return page({
    title: 'Approval hooks',
    assets,
    viewer,
    section: 'hooks',
    body: html`<p>Endpoints asked to approve operations before they happen (pre-hooks) and told of them after (post-hooks). <a href="/console/hook-decisions">The decision log</a></p>
${view.before ? html`<section aria-label="Hook endpoints">${table}</section>` : html`${asOf(view.at)}
${refreshing('hooks', 'Hook endpoints', table)}`}`,
  });
}

export interface DecisionTableOptions {
  older?: string | null;
  newest?: string | null;
  empty: string;
  /** Show which hook answered (lists across hooks). */
  hookColumn?: boolean;
}

export function decisionTable(result: DecisionPage, options: DecisionTableOptions): Html {
  const nav = pager(options.newest ?? null, options.older ?? null, 'Older decisions');
  if (result.items.length === 0) return html`<p>${options.empty}</p>${nav}`;
  return html`<div class="table-wrap"><table class="decisions">
<thead><tr><th scope="col">Time</th><th scope="col">Operation</th><th scope="col">Outcome</th><th scope="col"><code>work_id</code></th><th scope="col">Latency</th>${options.hookColumn ? html`<th scope="col">Hook</th>` : ''}<th scope="col">For organization</th></tr></thead>
<tbody>${result.items.map(
    (d) => html`<tr>
<td><a href="${url('hook-decisions', d.id)}" aria-label="Decision ${d.id}">${time(d.created_at)}</a></td>
<td>${d.operation}</td>
<td>${decisionOutcome(d)}${d.reason ? html`<br><span class="small">${excerpt(d.reason, 120)}</span>` : ''}</td>
<td>${d.work_id === null ? html`<span class="muted">—</span>` : html`<code>${excerpt(d.work_id, 40)}</code>`}</td>
<td>${d.latency_ms} ms</td>
${options.hookColumn ? html`<td><a href="${url('hooks', d.hook_id)}">${shortId(d.hook_id)}</a></td>` : ''}
<td>${shortId(d.organization_id)}</td>
</tr>`,
  )}</tbody></table></div>${nav}`;
}

export interface HookPageView {
  hook: HookView;
  decisions: DecisionPage;
  at: string;
}

export function hookPage(assets: AssetUrls, viewer: Viewer, view: HookPageView): Html {
  const h = view.hook;
  const details = html`<dl class="facts">
<dt>State</dt><dd>${hookState(h)}</dd>
<dt>URL</dt><dd class="break">${h.url}</dd>
<dt>Operations</dt><dd>${operations(h)}</dd>
<dt>Phase</dt><dd>${h.phase === HookPhase.Both ? 'before (may veto) and after' : h.phase === HookPhase.Pre ? 'before (may veto)' : 'after (told only)'}</dd>
<dt>Timeout</dt><dd>${h.timeout_ms} ms</dd>
<dt>On failure</dt><dd>${h.failure_policy === HookFailurePolicy.FailOpen ? 'fail-open: a hook that gives no valid answer approves' : 'fail-closed: a hook that gives no valid answer vetoes'}</dd>
<dt>TLS verification</dt><dd>${h.ssl_verification ? 'on' : 'off'}</dd>
<dt>Owner organization</dt><dd><code>${h.organization_id}</code></dd>
<dt>Secret</dt><dd>${h.has_secret ? 'set' : 'none'}${h.previous_secret_expires_at ? html`; the previous one signs too until ${time(h.previous_secret_expires_at)}` : ''}</dd>
<dt>Created</dt><dd>${time(h.created_at)}</dd>
<dt>Changed</dt><dd>${time(h.updated_at)}</dd>
</dl>`;
  const decisions = html`${decisionTable(view.decisions, { empty: 'No decisions yet: the hook has not been asked.' })}
<p><a href="${url('hook-decisions', { hook_id: h.id })}">Every decision of this hook</a></p>`;
  return page({
    title: h.name,
    assets,
    viewer,
    section: 'hooks',
    body: html`<p><a href="/console/hooks">All approval hooks</a></p>
${details}
${asOf(view.at)}
${refreshing('recent-decisions', 'Recent decisions', decisions)}`,
  });
}

export interface DecisionsView {
  result: DecisionPage;
  filter: DecisionFilter;
  operation?: string;
  hookId?: string;
  before?: string;
  at: string;
}

export function decisionsPage(assets: AssetUrls, viewer: Viewer, view: DecisionsView): Html {
  const query = { outcome: view.filter === 'all' ? undefined : view.filter, operation: view.operation, hook_id: view.hookId };
  const table = decisionTable(view.result, {
    hookColumn: true,
    older: view.result.next_before ? url('hook-decisions', { ...query, before: view.result.next_before }) : null,
    newest: view.before ? url('hook-decisions', query) : null,
    empty: view.filter === 'all' && view.operation === undefined ? 'No decisions yet.' : 'No decisions match.',
  });
  const filter = html`<form method="get" action="/console/hook-decisions" class="filter">
${view.hookId ? html`<input type="hidden" name="hook_id" value="${view.hookId}">` : ''}
<label for="outcome">Outcome</label> <select id="outcome" name="outcome">${options(Object.entries(DECISION_FILTERS), view.filter)}</select>
<label for="operation">Operation</label> <select id="operation" name="operation"><option value="">All</option>${options(HOOK_OPERATIONS, view.operation)}</select>
<button type="submit">Apply</button></form>`;
  return page({
    title: 'Hook decisions',
    assets,
    viewer,
    section: 'hooks',
    body: html`<p>What the pre-hooks of your organization and those below it answered, newest first${view.hookId ? html`, of hook <a href="${url('hooks', view.hookId)}">${shortId(view.hookId)}</a> only` : ''}. <a href="/console/hooks">The hook endpoints</a></p>
${filter}
${view.before ? html`<section aria-label="Decisions">${table}</section>` : html`${asOf(view.at)}
${refreshing('decisions', 'Decisions', table)}`}`,
  });
}

export function decisionPage(assets: AssetUrls, viewer: Viewer, d: DecisionView): Html {
  const facts = html`<dl class="facts">
<dt>Outcome</dt><dd>${decisionOutcome(d)}</dd>
<dt>Operation</dt><dd>${d.operation}</dd>
<dt>For organization</dt><dd><code>${d.organization_id}</code></dd>
<dt>Acting login (<code>auth_id</code>)</dt><dd>${d.auth_id}</dd>
<dt>Hook</dt><dd><a href="${url('hooks', d.hook_id)}"><code>${d.hook_id}</code></a> (owned by <code>${d.hook_organization_id}</code>)</dd>
<dt>Time</dt><dd>${time(d.created_at)}</dd>
<dt>Latency</dt><dd>${d.latency_ms} ms</dd>
<dt>Call</dt><dd><code>${d.call_id}</code> <span class="muted small">(shared by the decisions of the same operation's pre-hooks)</span></dd>
<dt>Failure policy</dt><dd>${d.failure_policy}${d.policy_applied ? ' (applied: the hook gave no valid answer)' : ' (not needed)'}</dd>
</dl>`;
  const answer = html`<dl class="facts">
<dt>HTTP status</dt><dd>${d.status_code === null ? 'no answer' : `HTTP ${d.status_code}`}</dd>
<dt><code>approved</code></dt><dd>${d.approved === null ? html`<span class="muted">no valid answer</span>` : String(d.approved)}</dd>
<dt><code>work_id</code></dt><dd>${d.work_id === null ? html`<span class="muted">—</span>` : html`<code>${d.work_id}</code>`}</dd>
<dt><code>reason</code></dt><dd>${d.reason ?? html`<span class="muted">—</span>`}</dd>
${d.error_class ? html`<dt>Error class</dt><dd>${d.error_class}</dd>` : ''}
${d.error ? html`<dt>Error</dt><dd>${d.error}</dd>` : ''}
</dl>`;
  const sent = html`<p>The gateway POSTed <code>{"operation", "organization_id", "auth_id", "input"}</code>, signed like a webhook, with <code>X-CS-Event: pre.${d.operation}</code> and this decision's id as the event id (<code>${d.id}</code>).
The request body is not stored: the input of an operation can carry personal data and credentials (a new user's password), and the decision log keeps them forever.</p>`;
  return page({
    title: `Decision on ${d.operation}`,
    assets,
    viewer,
    section: 'hooks',
    body: html`<p><a href="/console/hook-decisions">The decision log</a></p>
${section('decision', 'Decision', facts)}
${section('answer', 'What the hook answered', answer)}
${section('sent', 'What was sent', sent)}`,
  });
}

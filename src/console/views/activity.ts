import type { AuditChain, AuditPage, AuditRecordView } from '../../audit/audit.views';
import { AuditKind, AuditOutcome } from '../../audit/audit-record.entity';
import { Html, html, url } from '../html';
import { badge, options, pager, shortId, time } from './format';
import { AssetUrls, page, Viewer } from './layout';
import { asOf, refreshing, section } from './overview';

/** The filters as the form holds them (text as typed, empty when unset). */
export interface ActivityFilters {
  kind: string;
  outcome: string;
  organization_id: string;
  tenant_id: string;
  from: string;
  to: string;
  q: string;
}

export const EMPTY_ACTIVITY_FILTERS: ActivityFilters = { kind: '', outcome: '', organization_id: '', tenant_id: '', from: '', to: '', q: '' };

/** The filters as URL query values (empty ones left out). */
export function filterParams(f: ActivityFilters): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v === '' ? undefined : v]));
}

const KIND_LABELS: Record<AuditKind, string> = {
  [AuditKind.Callback]: 'Callback',
  [AuditKind.Event]: 'Event',
  [AuditKind.Delivery]: 'Delivery',
  [AuditKind.DeliveryAttempt]: 'Delivery attempt',
  [AuditKind.HookDecision]: 'Hook decision',
  [AuditKind.ConnectorPush]: 'Connector push',
  [AuditKind.S3Record]: 'S3 record',
  [AuditKind.S3Action]: 'S3 action',
  [AuditKind.Action]: 'Action',
};

function outcomeBadge(r: AuditRecordView): Html {
  return html`${badge(r.outcome === AuditOutcome.Ok ? 'succeeded' : 'failed')}${r.code ? html` <span class="small">${r.code}</span>` : ''}`;
}

/** The ids a record is about, shortened, with their names. */
function subjects(r: AuditRecordView): Html[] {
  const ids: Array<[string, string | null]> = [
    ['request', r.request_id],
    ['event', r.event_id],
    ['delivery', r.delivery_id],
    ['work', r.work_id],
    ['action', r.action_id],
  ];
  return ids.filter(([, v]) => v !== null).map(([label, v]) => html`<span class="muted small">${label} </span>${shortId(v as string)} `);
}

function filterForm(f: ActivityFilters): Html {
  const select = (id: string, label: string, value: string, choices: Array<[string, string]>) =>
    html`<div class="field"><label for="${id}">${label}</label><select id="${id}" name="${id}">${options(choices, value)}</select></div>`;
  const input = (id: string, label: string, value: string, extra: Html | string = '') =>
    html`<div class="field"><label for="${id}">${label}</label><input id="${id}" name="${id}" value="${value}"${extra}></div>`;
  return html`<form method="get" action="/console/activity" class="card filters" role="search" aria-label="Filter the activity">
${input('q', 'Search: request id, event id, work_id, action id', f.q, html` type="search" maxlength="255" spellcheck="false"`)}
${select('kind', 'Kind', f.kind, [['', 'Any kind'], ...Object.values(AuditKind).map((k): [string, string] => [k, KIND_LABELS[k]])])}
${select('outcome', 'Outcome', f.outcome, [['', 'Any outcome'], [AuditOutcome.Ok, 'Succeeded'], [AuditOutcome.Failed, 'Failed']])}
${input('organization_id', 'Organization id', f.organization_id, html` maxlength="64" spellcheck="false"`)}
${input('tenant_id', 'Tenant id (Acronis)', f.tenant_id, html` maxlength="64" spellcheck="false"`)}
${input('from', 'From (UTC)', f.from, html` type="datetime-local" step="1"`)}
${input('to', 'To (UTC)', f.to, html` type="datetime-local" step="1"`)}
<div class="actions"><button type="submit">Apply</button> <a href="/console/activity">Clear</a></div>
</form>`;
}

function recordTable(result: AuditPage, older: string | null, newest: string | null): Html {
  const nav = pager(newest, older, 'Older records');
  if (result.items.length === 0) return html`<p>No record matches.</p>${nav}`;
  return html`<div class="table-wrap"><table class="activity">
<thead><tr><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">What</th><th scope="col">Outcome</th><th scope="col">Who</th><th scope="col">About</th><th scope="col">Duration</th></tr></thead>
<tbody>${result.items.map(
    (r) => html`<tr>
<td><a href="${url('activity', r.id)}" aria-label="Record ${r.id}">${time(r.at)}</a></td>
<td>${KIND_LABELS[r.kind] ?? r.kind}</td>
<td>${r.name ?? ''}</td>
<td>${outcomeBadge(r)}</td>
<td>${r.actor ?? ''}${r.organization_id ? html`<br>${shortId(r.organization_id)}` : ''}</td>
<td>${subjects(r)}</td>
<td>${r.duration_ms === null ? '' : `${r.duration_ms} ms`}</td>
</tr>`,
  )}</tbody></table></div>${nav}`;
}

export interface ActivityView {
  result: AuditPage;
  filters: ActivityFilters;
  before?: string;
  at: string;
}

export function activityPage(assets: AssetUrls, viewer: Viewer, view: ActivityView): Html {
  const params = filterParams(view.filters);
  const table = recordTable(
    view.result,
    view.result.next_before ? url('activity', { ...params, before: view.result.next_before }) : null,
    view.before ? url('activity', params) : null,
  );
  return page({
    title: 'Activity',
    assets,
    viewer,
    section: 'activity',
    body: html`<p>The audit trail: every callback, event, delivery and attempt, hook decision and more, of your organization and those below it, newest first.</p>
${filterForm(view.filters)}
${view.before ? '' : asOf(view.at)}
${section('records', 'Records', table, !view.before)}`,
  });
}

function facts(r: AuditRecordView, deliveryLinks: Set<string>): Html {
  const row = (label: string, value: Html | string | null) => (value === null || value === '' ? '' : html`<dt>${label}</dt><dd>${value}</dd>`);
  const code = (v: string | null) => (v === null ? null : html`<code>${v}</code>`);
  return html`<dl class="facts">
${row('Time', time(r.at))}
${row('Kind', KIND_LABELS[r.kind] ?? r.kind)}
${row('What', r.name)}
${row('Outcome', outcomeBadge(r))}
${row('Who', r.actor)}
${row('Organization', code(r.organization_id))}
${row('Tenant', code(r.tenant_id))}
${row('Request id', code(r.request_id))}
${row('Event id', code(r.event_id))}
${row('Delivery', r.delivery_id === null ? null : deliveryLinks.has(r.delivery_id) ? html`<a href="${url('deliveries', r.delivery_id)}"><code>${r.delivery_id}</code></a>` : code(r.delivery_id))}
${row('work_id', code(r.work_id))}
${row('Action id', code(r.action_id))}
${row('Duration', r.duration_ms === null ? null : `${r.duration_ms} ms`)}
${row('Details', r.detail === null ? null : html`<code>${JSON.stringify(r.detail)}</code>`)}
</dl>`;
}

/** One line of a chain: a link to the record, and to its delivery's page where there is one. */
function chainItem(r: AuditRecordView, deliveryLinks: Set<string>): Html {
  const delivery = r.delivery_id !== null && deliveryLinks.has(r.delivery_id) ? html` · <a href="${url('deliveries', r.delivery_id)}">delivery page</a>` : '';
  return html`<a href="${url('activity', r.id)}">${KIND_LABELS[r.kind] ?? r.kind}${r.name ? `: ${r.name}` : ''}</a> ${outcomeBadge(r)} <span class="muted small">${time(r.at)}</span>${delivery}`;
}

/** The records below `parent` as nested lists, by `cause_id`. */
function tree(parent: string, byCause: Map<string, AuditRecordView[]>, deliveryLinks: Set<string>): Html | string {
  const children = byCause.get(parent);
  if (!children || children.length === 0) return '';
  return html`<ul class="chain">${children.map((c) => html`<li>${chainItem(c, deliveryLinks)}${tree(c.id, byCause, deliveryLinks)}</li>`)}</ul>`;
}

export interface ActivityRecordView {
  chain: AuditChain;
  /** Delivery ids whose page the viewer can open. */
  deliveryLinks: Set<string>;
}

export function activityRecordPage(assets: AssetUrls, viewer: Viewer, view: ActivityRecordView): Html {
  const { record, caused_by: causedBy, caused } = view.chain;
  const byCause = new Map<string, AuditRecordView[]>();
  for (const r of caused) if (r.cause_id !== null) byCause.set(r.cause_id, [...(byCause.get(r.cause_id) ?? []), r]);
  const up =
    causedBy.length === 0
      ? html`<p>Nothing recorded caused it (or what did is not yours to see).</p>`
      : html`<ol class="chain">${causedBy.map((r) => html`<li>${chainItem(r, view.deliveryLinks)}</li>`)}</ol>`;
  const down = caused.length === 0 ? html`<p>Nothing recorded yet.</p>` : tree(record.id, byCause, view.deliveryLinks);
  return page({
    title: `${KIND_LABELS[record.kind] ?? record.kind} record`,
    assets,
    viewer,
    section: 'activity',
    body: html`<p><a href="/console/activity">All activity</a></p>
${section('record', 'Record', facts(record, view.deliveryLinks))}
${section('caused-by', 'Caused by', up)}
${refreshing('caused', 'What it caused', down)}`,
  });
}

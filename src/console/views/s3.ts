import { S3InboxState } from '../../s3-events/s3-inbox-record.entity';
import type { ActionAttemptView, ConfirmationView, InboxRecordView, S3ActionView, SourceView } from '../../s3-events/s3-events.views';
import { Html, html, url } from '../html';
import { badge, excerpt, options, pager, shortId, time } from './format';
import { actionButton, AssetUrls, Notice, page, Viewer } from './layout';
import { asOf, refreshing, section } from './overview';

/** The inbox filter of a source page: every state, or one. */
export type InboxFilter = 'all' | S3InboxState;
export const INBOX_FILTERS: Record<InboxFilter, string> = {
  all: 'All',
  [S3InboxState.Pending]: 'Pending',
  [S3InboxState.Processing]: 'Processing',
  [S3InboxState.Done]: 'Done',
  [S3InboxState.SkippedStale]: 'Skipped (a newer event of the key was acted on)',
  [S3InboxState.Failed]: 'Failed',
};

export interface SourcesView {
  items: SourceView[];
  lastConfirmed: Map<string, string>;
  more: boolean;
  before?: string;
  at: string;
}

export function sourcesPage(assets: AssetUrls, viewer: Viewer, view: SourcesView): Html {
  const last = view.items.at(-1);
  const nav = pager(view.before ? url('s3-sources') : null, view.more && last ? url('s3-sources', { before: last.id }) : null, 'Older sources');
  const table =
    view.items.length === 0
      ? html`<p>${view.before ? 'No older sources.' : 'No S3 event sources yet. Create one with POST /api/s3-events/sources.'}</p>${nav}`
      : html`<p class="muted small">Sources of your organization and those below it, newest first.</p>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Buckets</th><th scope="col">Actions run</th><th scope="col">Owner</th><th scope="col">Last confirmed</th><th scope="col">Created</th></tr></thead>
<tbody>${view.items.map(
          (s) => html`<tr><td><a href="${url('s3-sources', s.id)}">${s.name}</a></td><td>${badge(s.enabled ? 'enabled' : 'disabled')}${s.public_url === null ? html`<br><span class="small">no public URL: confirmations cannot be signed</span>` : ''}</td>
<td>${s.allowed_buckets.map((b) => html`<span class="chip">${b}</span> `)}</td><td>${s.actions.length === 0 ? html`<span class="muted">events only</span>` : s.actions.map((a) => String(a.type)).join(', ')}</td>
<td>${shortId(s.organization_id)}</td><td>${time(view.lastConfirmed.get(s.id) ?? null)}</td><td>${time(s.created_at)}</td></tr>`,
        )}</tbody></table></div>${nav}`;
  return page({
    title: 'S3 sources',
    assets,
    viewer,
    section: 's3',
    body: html`<p>Bucket notification endpoints: the buckets each may report, the actions run for every object event, and the inbox of events received.</p>
${view.before ? html`<section aria-label="S3 sources">${table}</section>` : html`${asOf(view.at)}${refreshing('sources', 'Sources', table)}`}`,
  });
}

function actionSummary(a: S3ActionView, index: number): Html {
  if (a.type === 'command') {
    return html`<li>${index + 1}. command <code>${a.command.join(' ')}</code> <span class="muted small">&lt;bucket&gt; &lt;key&gt; &lt;copy|delete&gt;</span></li>`;
  }
  return html`<li>${index + 1}. replicate to <code>${a.bucket}</code> at <span class="break">${a.endpoint}</span>${a.source ? html`, read from <span class="break">${a.source.endpoint}</span>` : ''}</li>`;
}

function confirmationsTable(items: ConfirmationView[]): Html {
  if (items.length === 0) return html`<p>No subscription confirmed yet. The bucket's notification service sends a SubscriptionConfirmation when the endpoint is configured; it shows here once answered.</p>`;
  return html`<p class="muted small">Newest first; the newest 100 are kept.</p>
<div class="table-wrap"><table class="confirmations">
<thead><tr><th scope="col">Confirmed</th><th scope="col">Bucket</th><th scope="col">TopicArn</th><th scope="col">Message time</th></tr></thead>
<tbody>${items.map((c) => html`<tr><td>${time(c.confirmed_at)}</td><td>${c.bucket}</td><td class="break">${c.topic_arn}</td><td>${c.message_timestamp}</td></tr>`)}</tbody></table></div>`;
}

function inboxTable(items: InboxRecordView[], empty: string, nav: Html | ''): Html {
  if (items.length === 0) return html`<p>${empty}</p>${nav}`;
  return html`<div class="table-wrap"><table class="inbox">
<thead><tr><th scope="col">Received</th><th scope="col">Event</th><th scope="col">Object</th><th scope="col">State</th><th scope="col">Attempts</th><th scope="col">Last error</th></tr></thead>
<tbody>${items.map(
    (r) => html`<tr><td><a href="${url('s3-records', r.id)}" aria-label="Inbox record ${r.id}">${time(r.created_at)}</a></td><td>${r.event_name}</td>
<td class="break">${r.bucket}/${r.key}</td><td>${badge(r.state)}</td><td>${r.attempts}</td><td class="small">${excerpt(r.last_error, 120)}</td></tr>`,
  )}</tbody></table></div>${nav}`;
}

export interface SourcePageView {
  source: SourceView;
  confirmations: ConfirmationView[];
  inbox: { items: InboxRecordView[]; more: boolean };
  filter: InboxFilter;
  before?: string;
  at: string;
}

export function sourcePage(assets: AssetUrls, viewer: Viewer, view: SourcePageView): Html {
  const s = view.source;
  const state = view.filter === 'all' ? undefined : view.filter;
  const last = view.inbox.items.at(-1);
  const nav = pager(
    view.before ? url('s3-sources', s.id, { state }) : null,
    view.inbox.more && last ? url('s3-sources', s.id, { state, before: last.id }) : null,
    'Older records',
  );
  const records = inboxTable(view.inbox.items, view.filter === 'all' ? 'No object events received yet.' : 'No records match.', nav);
  const details = html`<dl class="facts">
<dt>State</dt><dd>${badge(s.enabled ? 'enabled' : 'disabled')}</dd>
<dt>Public URL</dt><dd class="break">${s.public_url ?? html`<span class="muted">not set: a SubscriptionConfirmation cannot be signed</span>`}</dd>
<dt>Buckets allowed</dt><dd>${s.allowed_buckets.map((b) => html`<span class="chip">${b}</span> `)}</dd>
<dt>Actions</dt><dd>${s.actions.length === 0 ? 'none: events are recorded and sent to webhook subscribers only' : html`<ol class="plain">${s.actions.map(actionSummary)}</ol>`}</dd>
<dt>Owner organization</dt><dd><code>${s.organization_id}</code></dd>
<dt>Created</dt><dd>${time(s.created_at)}</dd>
<dt>Changed</dt><dd>${time(s.updated_at)}</dd>
</dl>`;
  const filter = html`<form method="get" action="${url('s3-sources', s.id)}" class="filter">
<label for="state">Show</label> <select id="state" name="state">${options(Object.entries(INBOX_FILTERS), view.filter)}</select> <button type="submit">Apply</button></form>`;
  return page({
    title: s.name,
    assets,
    viewer,
    section: 's3',
    body: html`<p><a href="/console/s3-sources">All S3 sources</a></p>
${section('settings', 'Settings', details)}
${view.before ? '' : asOf(view.at)}
${section('confirmations', 'Subscription confirmations', confirmationsTable(view.confirmations), !view.before)}
<section aria-labelledby="inbox-h"><h2 id="inbox-h">Inbox</h2>${filter}
<p class="muted small">Object events as received, newest first, 50 a page.</p>
${view.before ? html`<div id="inbox-list">${records}</div>` : html`<div id="inbox-list" data-refresh>${records}</div>`}
</section>`,
  });
}

function attemptRow(a: ActionAttemptView): Html {
  return html`<li class="attempt ${a.success ? 'ok' : 'bad'}">
<h3>Action ${a.action_index + 1} (${a.action_type}, ${a.operation}), try ${a.attempt}: ${badge(a.success ? 'succeeded' : 'failed')}</h3>
<dl class="facts">
<dt>Started</dt><dd>${time(a.started_at)}</dd>
<dt>Duration</dt><dd>${a.duration_ms} ms</dd>
${a.exit_code !== null ? html`<dt>Exit code</dt><dd>${a.exit_code}</dd>` : ''}
${a.error ? html`<dt>Error</dt><dd>${a.error}</dd>` : ''}
${a.note ? html`<dt>Note</dt><dd>${a.note}</dd>` : ''}
</dl>
${a.stdout ? html`<details><summary>Standard output</summary><pre>${a.stdout}</pre></details>` : ''}
${a.stderr ? html`<details><summary>Standard error</summary><pre>${a.stderr}</pre></details>` : ''}
</li>`;
}

export interface RecordPageView {
  record: InboxRecordView;
  source: SourceView;
  notice?: Notice;
  at: string;
}

export function recordPage(assets: AssetUrls, viewer: Viewer, view: RecordPageView): Html {
  const r = view.record;
  const open = r.state === S3InboxState.Pending || r.state === S3InboxState.Processing;
  const summary = html`<dl class="facts">
<dt>State</dt><dd>${badge(r.state)}</dd>
<dt>Source</dt><dd><a href="${url('s3-sources', view.source.id)}">${view.source.name}</a></dd>
<dt>Event</dt><dd>${r.event_name}</dd>
<dt>Bucket</dt><dd>${r.bucket}</dd>
<dt>Key</dt><dd class="break">${r.key}</dd>
${r.size !== null ? html`<dt>Size</dt><dd>${r.size} bytes</dd>` : ''}
${r.etag ? html`<dt>ETag</dt><dd><code>${r.etag}</code></dd>` : ''}
<dt>Sequencer</dt><dd><code>${r.sequencer}</code></dd>
<dt>Received</dt><dd>${time(r.created_at)}</dd>
<dt>Attempts</dt><dd>${r.attempts}</dd>
${r.state === S3InboxState.Pending ? html`<dt>Next attempt</dt><dd>${time(r.next_attempt_at)}</dd>` : ''}
<dt>Finished</dt><dd>${time(r.completed_at)}</dd>
<dt>Event to webhooks</dt><dd>${r.event_emitted ? 'recorded' : 'not yet'}</dd>
${r.last_error ? html`<dt>Last error</dt><dd>${r.last_error}</dd>` : ''}
</dl>`;
  const runs =
    r.action_attempts.length === 0
      ? html`<p>${view.source.actions.length === 0 ? 'The source has no actions: nothing runs for its events.' : 'No action has run for this record yet.'}</p>`
      : html`<ol class="timeline">${r.action_attempts.map(attemptRow)}</ol>`;
  const replay = html`<div class="actions">${
    open
      ? html`<span class="muted small">It can be replayed once it has finished.</span>`
      : html`${actionButton(viewer, url('s3-records', r.id, 'replay'), 'Replay this record')} <span class="muted small">Runs every action of the source again for this event.</span>`
  }</div>`;
  return page({
    title: 'Inbox record',
    assets,
    viewer,
    section: 's3',
    notice: view.notice ?? null,
    body: html`${open ? asOf(view.at) : html`<p id="as-of" class="muted small">As of ${time(view.at)}.</p>`}
${section('summary', 'Record', html`${summary}${replay}`, open)}
${section('actions-run', 'Actions run', runs, open)}`,
  });
}

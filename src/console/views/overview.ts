import type { Overview, QueueCount } from '../console-overview.service';
import { Html, html, Renderable } from '../html';
import { excerpt, time } from './format';
import { AssetUrls, page, Viewer } from './layout';

/** A titled region; with `refresh`, console.js reloads it in place every few seconds while the page is open (same id in the fresh page). */
export function section(id: string, label: string, body: Renderable, refresh = false): Html {
  return html`<section id="${id}"${refresh ? html` data-refresh` : ''} aria-labelledby="${id}-h">
<h2 id="${id}-h">${label}</h2>
${body}
</section>`;
}

export const refreshing = (id: string, label: string, body: Renderable): Html => section(id, label, body, true);

/** When the page's data was read; refreshed with it. */
export function asOf(at: string): Html {
  return html`<p id="as-of" data-refresh class="muted small">As of ${time(at)}; the lists refresh every 5 seconds while the page is open.</p>`;
}

export function overviewPage(assets: AssetUrls, viewer: Viewer, o: Overview): Html {
  const health = html`<dl class="facts">
<dt>Organization</dt><dd>${o.organization ? html`${o.organization.name} <code>${o.organization.id}</code>` : viewer.caller.organizationId}</dd>
<dt>Database</dt><dd>${o.database.type}: ${o.database.ok ? html`<span class="badge badge-succeeded">answering</span> in ${o.database.ms} ms` : html`<span class="badge badge-failed">not answering</span>`}</dd>
${o.workers.map((w) => html`<dt>${w.name}</dt><dd>${w.enabled ? 'running in this process' : 'off in this process'}</dd>`)}
</dl>`;
  const counted = (c: QueueCount): Html =>
    html`<li${c.alarm && c.count > 0 ? html` class="alarm"` : ''}><strong>${c.count.toLocaleString('en-US')}${c.capped ? '+' : ''}</strong> ${c.label}</li>`;
  const queues = html`<div class="table-wrap"><table>
<caption class="visually-hidden">Queue depths of your organization and the organizations below it, and what happened in the last hour</caption>
<thead><tr><th scope="col">Queue</th><th scope="col">Now</th><th scope="col">Last hour</th></tr></thead>
<tbody>${o.queues.map(
    (q) => html`<tr><th scope="row">${q.href ? html`<a href="${q.href}">${q.name}</a>` : q.name}</th>
<td><ul class="counts">${q.counts.map(counted)}</ul></td>
<td><ul class="counts">${q.lastHour.map(counted)}</ul></td></tr>`,
  )}</tbody></table></div>
<p class="muted small">Counts stop at ${o.cap.toLocaleString('en-US')} (shown as "${o.cap.toLocaleString('en-US')}+") so that this page stays fast with a long history; the lists have every row.</p>`;
  const failures =
    o.failures.length === 0
      ? html`<p>No failures.</p>`
      : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Error</th></tr></thead>
<tbody>${o.failures.map(
          (f) => html`<tr><td>${time(f.at)}</td><td>${f.href ? html`<a href="${f.href}">${f.kind}: ${f.what}</a>` : html`${f.kind}: ${f.what}`}</td><td>${excerpt(f.error, 200)}</td></tr>`,
        )}</tbody></table></div>`;
  return page({
    title: 'Overview',
    assets,
    viewer,
    section: 'overview',
    body: html`${asOf(o.at)}
${refreshing('health', 'Health', health)}
${refreshing('queues', 'Queues', queues)}
${refreshing('failures', 'Latest failures', failures)}`,
  });
}

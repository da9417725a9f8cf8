import { WebhookScope } from '../../webhooks/webhook-subscription.entity';
import type { SubscriptionView, TestDeliveryView } from '../../webhooks/webhooks.views';
import { MAX_DESCRIPTION, MAX_NAME, MAX_URL } from '../../webhooks/webhooks.dto';
import { Html, html, url } from '../html';
import { badge, excerpt, options } from './format';
import { AssetUrls, csrfInput, page, Viewer } from './layout';
import { disabledBanner } from './webhooks';

/** The edit form's fields as typed, to show them again with an error. */
export interface EditForm {
  name: string;
  payload_url: string;
  description: string;
  scope: string;
  ssl_verification: boolean;
}

export const editFormOf = (s: SubscriptionView): EditForm => ({
  name: s.name,
  payload_url: s.payload_url,
  description: s.description ?? '',
  scope: s.scope,
  ssl_verification: s.ssl_verification,
});

export interface EditView {
  subscription: SubscriptionView;
  form: EditForm;
  error: string | null;
}

/** `/console/webhooks/<id>/edit`: the settings a user may change (not the owner, not the secret: rotate it). */
export function editPage(assets: AssetUrls, viewer: Viewer, view: EditView): Html {
  const { subscription: s, form, error } = view;
  const invalid = error ? html` aria-invalid="true" aria-describedby="edit-error"` : '';
  return page({
    title: `Edit ${s.name}`,
    assets,
    viewer,
    section: 'webhooks',
    body: html`<p><a href="${url('webhooks', s.id)}">Back to the subscription</a></p>
<section aria-labelledby="edit-h" class="card">
<h2 id="edit-h">Settings</h2>
${error ? html`<p id="edit-error" class="notice notice-error" role="alert">${error}</p>` : ''}
<form method="post" action="${url('webhooks', s.id, 'edit')}">
${csrfInput(viewer)}
<div class="field"><label for="name">Name</label><input id="name" name="name" required maxlength="${MAX_NAME}" value="${form.name}"${invalid}></div>
<div class="field"><label for="payload_url">Payload URL</label><input id="payload_url" name="payload_url" type="url" required maxlength="${MAX_URL}" value="${form.payload_url}"${invalid}></div>
<div class="field"><label for="description">Description <span class="muted">(optional; empty clears it)</span></label><input id="description" name="description" maxlength="${MAX_DESCRIPTION}" value="${form.description}"></div>
<div class="field"><label for="scope">Scope</label><select id="scope" name="scope">${options(Object.values(WebhookScope), form.scope)}</select>
<span class="hint">Local: events of the owner organization; Domain: and of everything below it; Global: every event (root organization only).</span></div>
<div class="check"><input id="ssl_verification" name="ssl_verification" type="checkbox" value="on"${form.ssl_verification ? html` checked` : ''}><label for="ssl_verification">Verify the receiver's TLS certificate (needs an https URL)</label></div>
<p class="muted small">The owner organization does not change; the secret changes by rotation, on the subscription's page.</p>
<button type="submit" class="primary">Save</button> <a href="${url('webhooks', s.id)}">Cancel</a>
</form></section>`,
  });
}

export interface TestView {
  subscription: SubscriptionView;
  /** What the receiver answered, after a test was sent; null before. */
  result: TestDeliveryView | null;
}

/** `/console/webhooks/<id>/test`: sends a signed TEST.WEBHOOK event now and shows the receiver's answer. */
export function testPage(assets: AssetUrls, viewer: Viewer, view: TestView): Html {
  const { subscription: s, result } = view;
  const answer = result
    ? html`<section class="card" aria-labelledby="answer-h" id="test-result">
<h2 id="answer-h">The receiver's answer: ${badge(result.success ? 'succeeded' : 'failed')}</h2>
<dl class="facts">
<dt>Status</dt><dd>${result.status === null ? 'no answer' : `HTTP ${result.status}`}</dd>
<dt>Duration</dt><dd>${Math.round(result.duration_ms)} ms</dd>
${result.error_class ? html`<dt>Error class</dt><dd>${result.error_class}</dd>` : ''}
${result.error ? html`<dt>Error</dt><dd>${result.error}</dd>` : ''}
</dl>
<h3>Body excerpt</h3>
${result.response_body === null || result.response_body === '' ? html`<p class="muted">(empty)</p>` : html`<pre class="response">${excerpt(result.response_body, 1024)}</pre>`}
</section>`
    : '';
  return page({
    title: `Send a test to ${s.name}`,
    assets,
    viewer,
    section: 'webhooks',
    body: html`<p><a href="${url('webhooks', s.id)}">Back to the subscription</a></p>
${disabledBanner(viewer, s)}
<p>Sends a <code>TEST.WEBHOOK</code> event (<code>{"CloudStack":"works!"}</code>, a new event id) to <span class="break">${s.payload_url}</span> now, signed like every delivery with the current secret${
      s.previous_secret_expires_at ? ' and the previous one' : ''
    }. Nothing is stored, and it works on a disabled subscription too.</p>
<form method="post" action="${url('webhooks', s.id, 'test')}" class="actions">
${csrfInput(viewer)}
<button type="submit" class="primary">${result ? 'Send another test' : 'Send a test now'}</button>
</form>
${answer}`,
  });
}

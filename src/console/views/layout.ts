import type { VerifiedCaller } from '../../auth/credential-cache.service';
import { CSRF_FIELD } from '../console-http';
import { Html, html, Renderable } from '../html';

/** The two assets, with their content hash in the URL so that they can be cached for good. */
export interface AssetUrls {
  css: string;
  js: string;
}

/** Who is signed in, for the header and the forms' token. */
export interface Viewer {
  caller: VerifiedCaller;
  csrfToken: string;
}

export type Section = 'overview' | 'activity' | 'webhooks' | 'dead-letters' | 'hooks' | 'connector' | 's3' | 'actions' | null;

/** A message shown above a page's content: a fixed text chosen by the server, never echoed input. */
export type Notice = { kind: 'ok' | 'error'; text: string } | null;

export interface PageOptions {
  title: string;
  assets: AssetUrls;
  viewer: Viewer | null;
  section?: Section;
  /** A message shown above the content (a fixed text chosen by the server, never echoed input). */
  notice?: { kind: 'ok' | 'error'; text: Renderable } | null;
  body: Renderable;
}

const NAV: Array<{ section: Exclude<Section, null>; href: string; label: string }> = [
  { section: 'overview', href: '/console', label: 'Overview' },
  { section: 'activity', href: '/console/activity', label: 'Activity' },
  { section: 'webhooks', href: '/console/webhooks', label: 'Webhooks' },
  { section: 'dead-letters', href: '/console/dead-letters', label: 'Dead letters' },
  { section: 'hooks', href: '/console/hooks', label: 'Approval hooks' },
  { section: 'connector', href: '/console/connector', label: 'Connector' },
  { section: 's3', href: '/console/s3-sources', label: 'S3 sources' },
  { section: 'actions', href: '/console/actions', label: 'Actions' },
];

/** The hidden field with the session's synchronizer token: in every form that changes something. */
export const csrfInput = (viewer: Viewer): Html => html`<input type="hidden" name="${CSRF_FIELD}" value="${viewer.csrfToken}">`;

/** A POST form of one button (and hidden fields); `confirm` asks first when scripts run. */
export function actionButton(viewer: Viewer, action: string, label: string, options: { fields?: Record<string, string>; confirm?: string; className?: string } = {}): Html {
  const hidden = Object.entries(options.fields ?? {}).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
  return html`<form class="inline" method="post" action="${action}"${options.confirm ? html` data-confirm="${options.confirm}"` : ''}>${csrfInput(viewer)}${hidden}<button type="submit" class="${options.className ?? ''}">${label}</button></form>`;
}

export function page(options: PageOptions): Html {
  const { viewer, section = null } = options;
  const nav = viewer
    ? html`<nav aria-label="Console"><ul>${NAV.map(
        (n) => html`<li><a href="${n.href}"${n.section === section ? html` aria-current="page"` : ''}>${n.label}</a></li>`,
      )}</ul></nav>
      <div class="who"><span>Signed in as <strong>${viewer.caller.login}</strong></span>${actionButton(viewer, '/console/sign-out', 'Sign out', { className: 'link' })}</div>`
    : '';
  const notice = options.notice
    ? html`<p class="notice notice-${options.notice.kind}" role="${options.notice.kind === 'error' ? 'alert' : 'status'}">${options.notice.text}</p>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Gateway console</title>
<link rel="stylesheet" href="${options.assets.css}">
<script src="${options.assets.js}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><span class="brand">CyberApp Gateway</span>${nav}</header>
<main id="main" tabindex="-1">
<h1>${options.title}</h1>
${notice}${options.body}
</main>
</body>
</html>
`;
}

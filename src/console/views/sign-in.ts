import { CSRF_FIELD } from '../console-http';
import { Html, html } from '../html';
import { AssetUrls, page } from './layout';

export interface SignInView {
  assets: AssetUrls;
  /** The sign-in form's own token (its cookie holds the same). */
  formToken: string;
  next: string;
  login?: string;
  /** Why the form is shown again: a fixed message chosen by the server. */
  message?: { kind: 'ok' | 'error'; text: string } | null;
}

export function signInPage(view: SignInView): Html {
  const error = view.message?.kind === 'error';
  return page({
    title: 'Sign in',
    assets: view.assets,
    viewer: null,
    notice: view.message ?? null,
    body: html`<form class="card sign-in" method="post" action="/console/sign-in">
<input type="hidden" name="${CSRF_FIELD}" value="${view.formToken}">
<input type="hidden" name="next" value="${view.next}">
<p class="muted">The vendor credentials of the gateway's APIs (the login and password the platform sends as X-CyberApp-Auth).</p>
<div class="field"><label for="login">Login</label>
<input id="login" name="login" autocomplete="username" required maxlength="255" value="${view.login ?? ''}"${error ? html` aria-invalid="true"` : ''} autofocus></div>
<div class="field"><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"${error ? html` aria-invalid="true"` : ''}></div>
<button type="submit" class="primary">Sign in</button>
</form>`,
  });
}

// The signed-in agent, its permissions and its access token.
//
// The refresh token never reaches script: the server keeps it in an HttpOnly, SameSite=Strict
// cookie scoped to /api/auth. Only the short-lived access token is held, in memory; on page
// load `resumed` trades the cookie for one. Refresh rotates the cookie, so it is single-flight
// within a tab and serialised across tabs (Web Locks): a second tab presenting a cookie the
// first one just spent would look like theft and end the sign-in.

import { locale, setLocale, t } from './i18n.js';

const LEGACY_KEY = 'scrm.auth'; // where older versions kept both tokens
const REFRESH_LOCK = 'scrm.refresh';

class Auth extends EventTarget {
  constructor() {
    super();
    localStorage.removeItem(LEGACY_KEY);
    this.access = null;
    this.expiresAt = 0;
    this.signedIn = false; // true while the refresh cookie is believed valid
    this.me = null;
    this._refreshing = null;
    this._timer = null;
    // Signing out in one tab signs out the others.
    this._channel = 'BroadcastChannel' in window ? new BroadcastChannel('scrm.auth') : null;
    if (this._channel) this._channel.onmessage = (event) => { if (event.data === 'logout') this._signedOut(); };
    /** Settles once the page knows whether it is signed in (the cookie was tried). */
    this.resumed = this._refresh(true).catch(() => {});
  }

  can(...permissions) {
    const mine = this.me?.permissions || [];
    return permissions.some((p) => mine.includes(p));
  }

  _store(tokens) {
    this.access = tokens.access_token;
    this.expiresAt = Date.now() + tokens.expires_in * 1000;
    this.signedIn = true;
    this._schedule();
    // Open websockets re-authenticate with it.
    window.dispatchEvent(new CustomEvent('scrm:token', { detail: { accessToken: this.access } }));
  }

  _schedule() {
    clearTimeout(this._timer);
    if (!this.signedIn) return;
    // Refresh a minute before the access token expires (at least 5 s from now).
    const wait = Math.max(5000, this.expiresAt - Date.now() - 60000);
    this._timer = setTimeout(() => this.refresh().catch(() => {}), wait);
  }

  async login(email, password, tenant) {
    const body = { email, password, session: 'cookie' };
    if (tenant) body.tenant = tenant;
    const res = await fetch('/api/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept-Language': locale() },
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data?.error?.message || t('shell.login_failed', { status: res.status }));
    this._store(data);
    await this.loadMe();
    this.dispatchEvent(new Event('login'));
  }

  /** A new access token (the cookie rotates); concurrent callers share one request. Signs out
   * if refused. */
  refresh() {
    if (!this.signedIn) return Promise.reject(new Error(t('shell.not_signed_in')));
    return this._refresh(false);
  }

  _refresh(resuming) {
    if (this._refreshing) return this._refreshing;
    const exchange = async () => {
      const res = await fetch('/api/auth/refresh', { method: 'POST' });
      if (res.status === 401 || res.status === 400 || res.status === 403) {
        this._signedOut();
        throw new Error(resuming ? t('shell.not_signed_in') : t('shell.session_ended'));
      }
      if (!res.ok) throw new Error(t('shell.refresh_failed', { status: res.status }));
      this._store(await res.json());
      this.dispatchEvent(new Event('refreshed'));
    };
    const locked = navigator.locks ? navigator.locks.request(REFRESH_LOCK, exchange) : exchange();
    this._refreshing = locked.finally(() => { this._refreshing = null; });
    return this._refreshing;
  }

  async loadMe() {
    const { api } = await import('./api.js');
    const before = JSON.stringify(this.me?.permissions || null);
    const signingIn = !this.me;
    this.me = await api('/api/auth/me');
    // At sign-in the agent's saved choice wins over the browser's. Later refreshes (on focus,
    // every minute) leave the language alone: one answered while the agent was picking
    // another would undo the pick.
    if (signingIn && this.me.locale) setLocale(this.me.locale);
    if (JSON.stringify(this.me.permissions) !== before) {
      this.dispatchEvent(new Event('permissions'));
    }
    return this.me;
  }

  /** Ends this sign-in on the server (the cookie is cleared) and in every tab. */
  async logout() {
    await fetch('/api/auth/logout', { method: 'POST' }).catch(() => {});
    this._channel?.postMessage('logout');
    this._signedOut();
  }

  _signedOut() {
    const was = this.signedIn || this.me;
    this.access = null;
    this.signedIn = false;
    this.expiresAt = 0;
    this.me = null;
    clearTimeout(this._timer);
    if (was) this.dispatchEvent(new Event('logout'));
  }
}

export const auth = new Auth();

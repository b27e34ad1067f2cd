// Tokens, the signed-in agent and its permissions. Refresh is single-flight and rotates.

const KEY = 'scrm.auth';

class Auth extends EventTarget {
  constructor() {
    super();
    const saved = JSON.parse(localStorage.getItem(KEY) || 'null');
    this.access = saved?.access || null;
    this.refreshToken = saved?.refresh || null;
    this.expiresAt = saved?.expiresAt || 0;
    this.me = null;
    this._refreshing = null;
    this._timer = null;
    this._schedule();
    // Another tab rotated the tokens: use the new ones.
    window.addEventListener('storage', (event) => {
      if (event.key !== KEY) return;
      const next = JSON.parse(event.newValue || 'null');
      this.access = next?.access || null;
      this.refreshToken = next?.refresh || null;
      this.expiresAt = next?.expiresAt || 0;
      if (!this.refreshToken) this._signedOut();
    });
  }

  get signedIn() { return Boolean(this.refreshToken); }

  can(...permissions) {
    const mine = this.me?.permissions || [];
    return permissions.some((p) => mine.includes(p));
  }

  _store(tokens) {
    this.access = tokens.access_token;
    this.refreshToken = tokens.refresh_token;
    this.expiresAt = Date.now() + tokens.expires_in * 1000;
    localStorage.setItem(KEY, JSON.stringify({
      access: this.access, refresh: this.refreshToken, expiresAt: this.expiresAt,
    }));
    this._schedule();
  }

  _schedule() {
    clearTimeout(this._timer);
    if (!this.refreshToken) return;
    // Refresh a minute before the access token expires (at least 5 s from now).
    const wait = Math.max(5000, this.expiresAt - Date.now() - 60000);
    this._timer = setTimeout(() => this.refresh().catch(() => {}), wait);
  }

  async login(email, password, tenant) {
    const body = { email, password };
    if (tenant) body.tenant = tenant;
    const res = await fetch('/api/auth/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data?.error?.message || `Login failed (${res.status})`);
    this._store(data);
    await this.loadMe();
    this.dispatchEvent(new Event('login'));
  }

  /** Rotate the tokens; concurrent callers share one request. Signs out if refused. */
  refresh() {
    if (!this.refreshToken) return Promise.reject(new Error('Not signed in'));
    if (this._refreshing) return this._refreshing;
    const sent = this.refreshToken;
    this._refreshing = (async () => {
      try {
        const res = await fetch('/api/auth/refresh', {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refresh_token: sent }),
        });
        if (res.status === 401 || res.status === 400 || res.status === 403) {
          // Refused. Another tab may have rotated it meanwhile; else the session is over.
          if (this.refreshToken !== sent) return;
          this._signedOut();
          throw new Error('Your session has ended. Please sign in again.');
        }
        if (!res.ok) throw new Error(`Token refresh failed (${res.status})`);
        this._store(await res.json());
        this.dispatchEvent(new Event('refreshed'));
      } finally {
        this._refreshing = null;
      }
    })();
    return this._refreshing;
  }

  async loadMe() {
    const { api } = await import('./api.js');
    const before = JSON.stringify(this.me?.permissions || null);
    this.me = await api('/api/auth/me');
    if (JSON.stringify(this.me.permissions) !== before) {
      this.dispatchEvent(new Event('permissions'));
    }
    return this.me;
  }

  async logout() {
    const token = this.refreshToken;
    this._signedOut();
    if (token) {
      await fetch('/api/auth/logout', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: token }),
      }).catch(() => {});
    }
  }

  _signedOut() {
    const was = this.signedIn || this.me;
    this.access = this.refreshToken = null;
    this.expiresAt = 0;
    this.me = null;
    clearTimeout(this._timer);
    localStorage.removeItem(KEY);
    if (was) this.dispatchEvent(new Event('logout'));
  }
}

export const auth = new Auth();

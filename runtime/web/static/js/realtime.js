// The agent websocket: catch-up cursor kept in localStorage, exponential backoff,
// token refresh when the handshake is refused (the server closes before accepting) or the
// session ends, re-authentication on the open socket whenever the access token is renewed.
import { auth } from './auth.js';

const MAX_BACKOFF = 10000;
const CLOSE_SESSION = 4401; // session ended / access token expired or refused: refresh first
const CLOSE_RESCOPE = 4409; // permissions or teams changed: reconnect at once with the cursor

export class Realtime extends EventTarget {
  constructor() {
    super();
    this.socket = null;
    this.state = 'idle'; // idle | connecting | live | down
    this.attempts = 0;
    this.stopped = true;
    this.timer = null;
    // auth.js announces every new access token: extend the open socket's life with it.
    window.addEventListener('scrm:token', (event) => this._reauthenticate(event.detail?.accessToken));
  }

  _reauthenticate(token) {
    if (token && this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: 'auth', token }));
    }
  }

  get cursorKey() {
    return `scrm.seq.${auth.me?.tenant_id}.${auth.me?.id}`;
  }

  get cursor() {
    const raw = localStorage.getItem(this.cursorKey);
    return raw === null ? null : Number(raw);
  }

  set cursor(seq) {
    localStorage.setItem(this.cursorKey, String(seq));
  }

  start() {
    this.stopped = false;
    this.attempts = 0;
    this._connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close();
    }
    this.socket = null;
    this._set('idle');
  }

  _set(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  _connect() {
    if (this.stopped || !auth.access) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const params = new URLSearchParams({ token: auth.access });
    const cursor = this.cursor;
    const resuming = cursor !== null && Number.isFinite(cursor);
    if (resuming) params.set('cursor', String(cursor));
    this.resuming = resuming;
    if (this.state !== 'down') this._set('connecting');
    let opened = false;
    const socket = new WebSocket(`${proto}//${location.host}/ws?${params}`);
    this.socket = socket;
    socket.onopen = () => { opened = true; };
    socket.onmessage = (event) => this._frame(JSON.parse(event.data));
    socket.onclose = async (event) => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      if (event.code === CLOSE_RESCOPE) { this._connect(); return; }
      this._set('down');
      if (!opened || event.code === CLOSE_SESSION || Date.now() > auth.expiresAt - 30000) {
        // Refused at the handshake (usually an expired access token) or the session ended:
        // a refused refresh signs out (back to the login page).
        try {
          await auth.refresh();
          if (event.code === CLOSE_SESSION) { this._connect(); return; }
        } catch { if (!auth.signedIn) return; }
      }
      const delay = Math.min(MAX_BACKOFF, 500 * 2 ** this.attempts) * (0.8 + Math.random() * 0.4);
      this.attempts += 1;
      this.timer = setTimeout(() => this._connect(), delay);
    };
  }

  _frame(frame) {
    if (frame.type === 'ready') {
      this.attempts = 0;
      // Caught up to frame.cursor: resume from there, even if no event came before the
      // socket drops (reconnecting without a cursor starts at the head: a gap).
      if (Number.isInteger(frame.cursor)) this.cursor = frame.cursor;
      this._set('live');
      // Without a cursor the server starts at its head: whoever loaded data before this
      // moment may have missed events, so views reload (resumed=false).
      this.dispatchEvent(new CustomEvent('ready', { detail: { resumed: this.resuming } }));
      return;
    }
    if (frame.type === 'heartbeat' || frame.seq === undefined) return;
    const cursor = this.cursor;
    if (cursor !== null && frame.seq <= cursor) return; // already seen
    this.cursor = frame.seq;
    this.dispatchEvent(new CustomEvent('event', { detail: frame }));
  }
}

export const realtime = new Realtime();

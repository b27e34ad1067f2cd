// The shell: sign-in, top bar (sections allowed by the user's permissions), hash routing,
// connection banner, permission refresh (on focus, after a 403, every minute).
import { api, events as apiEvents } from './api.js';
import { auth } from './auth.js';
import { button, field, h, replace, showError, toast } from './dom.js';
import { LOCALES, locale, setLocale, t } from './i18n.js';
import { realtime } from './realtime.js';

// Sections: route, label key, permission(s) any of which allows it, module.
export const SECTIONS = [
  { route: 'inbox', label: 'shell.section.inbox', perms: ['inbox:read:all', 'inbox:read:assigned'], load: () => import('./views/inbox.js') },
  { route: 'contacts', label: 'shell.section.contacts', perms: ['contacts:read:all', 'contacts:read:assigned'], load: () => import('./views/contacts.js') },
  { route: 'agents', label: 'shell.section.agents', perms: ['agents:read'], load: () => import('./views/agents.js') },
  { route: 'teams', label: 'shell.section.teams', perms: ['teams:read'], load: () => import('./views/teams.js') },
  { route: 'roles', label: 'shell.section.roles', perms: ['roles:read'], load: () => import('./views/roles.js') },
  { route: 'senders', label: 'shell.section.senders', perms: ['senders:read'], load: () => import('./views/senders.js') },
  { route: 'campaigns', label: 'shell.section.campaigns', perms: ['campaigns:read'], load: () => import('./views/campaigns.js') },
  { route: 'templates', label: 'shell.section.templates', perms: ['templates:read'], load: () => import('./views/templates.js') },
  { route: 'audit', label: 'shell.section.audit', perms: ['audit:read'], load: () => import('./views/audit.js') },
  { route: 'toolkit', label: 'shell.section.toolkit', perms: ['inbox:send'], load: () => import('./views/toolkit.js') },
];

const main = document.getElementById('main');
main.querySelector('.loading')?.replaceChildren(t('common.loading'));

/** The page's own text outside the views (index.html). */
function translatePage() {
  document.querySelector('.skip-link').textContent = t('shell.skip');
}
translatePage();
const topbar = document.getElementById('topbar');
const banner = document.getElementById('banner');
let current = null; // { section, view, key }

function allowed() {
  return SECTIONS.filter((s) => auth.can(...s.perms));
}

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  return { route: parts[0] || '', args: parts.slice(1) };
}

export function navigate(path) {
  location.hash = `#/${path}`;
}

// ---- sign-in -------------------------------------------------------------------------

function renderLogin(message) {
  topbar.hidden = true;
  banner.hidden = true;
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const tenant = h('input', { type: 'text', name: 'tenant', autocomplete: 'organization' });
  const error = h('p', { class: 'form-error', role: 'alert' }, message || '');
  const submit = h('button', { type: 'submit', class: 'primary' }, t('shell.sign_in'));
  const form = h('form', {
    class: 'login card',
    'aria-labelledby': 'login-title',
    onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      error.textContent = '';
      try {
        await auth.login(email.value.trim(), password.value, tenant.value.trim());
      } catch (err) {
        error.textContent = err.message;
        submit.disabled = false;
        password.select();
      }
    },
  },
  h('h1', { id: 'login-title' }, t('shell.sign_in_title')),
  field(t('shell.email'), email),
  field(t('shell.password'), password),
  field(t('shell.workspace'), tenant, t('shell.workspace_hint')),
  languagePicker(),
  error,
  submit);
  replace(main, h('div', { class: 'login-wrap' }, form));
  email.focus();
}

// ---- language --------------------------------------------------------------------------

/** A language menu; `onChoose` also saves the choice (the agent's profile) when signed in. */
function languagePicker(onChoose = async () => {}) {
  const select = h('select', {
    id: onChoose === saveMyLocale ? 'my-locale' : 'login-locale',
    onchange: async () => {
      try {
        await onChoose(select.value);
        setLocale(select.value);
      } catch (err) { showError(err, t('shell.language_not_changed')); }
    },
  }, LOCALES.map((tag) => h('option', { value: tag, selected: tag === locale() }, t(`shell.language.${tag}`))));
  return h('label', { class: 'language' }, h('span', { class: 'sr-only' }, t('shell.language')), select);
}

async function saveMyLocale(tag) {
  await api('/api/me/locale', { method: 'PUT', body: { locale: tag } });
  auth.me.locale = tag;
}

// A new language re-renders the page: the shell and the view mounted afresh. While a view
// is still loading (none mounted yet) it will render in the new language, but the top bar
// was already drawn in the old one: draw it again.
window.addEventListener('scrm:locale', () => {
  translatePage();
  if (!auth.signedIn) { renderLogin(); return; }
  if (!current) {
    if (auth.me && !topbar.hidden) renderTopbar();
    return;
  }
  current.view?.destroy?.();
  current = null;
  route();
});

// ---- top bar -------------------------------------------------------------------------

function renderTopbar() {
  const me = auth.me;
  const { route } = parseHash();
  const presence = h('select', {
    id: 'presence',
    onchange: async () => {
      try {
        await api('/api/me/status', { method: 'PUT', body: { status: presence.value } });
        me.status = presence.value;
        presence.dataset.status = presence.value;
      } catch (err) { showError(err, t('shell.status_not_changed')); }
    },
  }, ['online', 'away', 'offline'].map((s) => h('option', { value: s, selected: me.status === s }, t(`shell.status.${s}`))));
  presence.dataset.status = me.status;
  replace(topbar,
    h('a', { class: 'brand', href: '#/inbox' }, h('span', { 'aria-hidden': 'true' }, '◉ '), me.tenant_name || 'scrm'),
    h('nav', { 'aria-label': t('shell.sections') },
      h('ul', {}, allowed().map((s) => h('li', {},
        h('a', { href: `#/${s.route}`, 'aria-current': s.route === route ? 'page' : null }, t(s.label)))))),
    h('div', { class: 'me' },
      h('label', { class: 'presence', for: 'presence' }, h('span', { class: 'sr-only' }, t('shell.my_status')), h('span', { class: 'dot', 'aria-hidden': 'true' }), presence),
      h('span', { class: 'who', title: me.email }, me.name),
      languagePicker(saveMyLocale),
      button(t('shell.sign_out'), () => auth.logout(), { class: 'link' })));
  topbar.hidden = false;
}

// ---- routing -------------------------------------------------------------------------

async function route() {
  await auth.resumed; // a reload stays signed in: the refresh cookie is traded first
  if (!auth.signedIn) return renderLogin();
  if (!auth.me) {
    try { await auth.loadMe(); } catch (err) {
      if (!auth.signedIn) return renderLogin();
      replace(main, h('p', { class: 'form-error', role: 'alert' }, t('shell.cannot_reach', { message: err.message })));
      return;
    }
    realtime.start();
  }
  const { route: name, args } = parseHash();
  const sections = allowed();
  const section = sections.find((s) => s.route === name);
  if (!section) {
    if (!sections.length) {
      renderTopbar();
      replace(main, h('p', { class: 'empty' }, t('shell.no_sections')));
      return;
    }
    if (name) toast(t('shell.no_access', { name }), 'error');
    location.replace(`#/${sections[0].route}`);
    return;
  }
  renderTopbar();
  const key = `${name}/${args.join('/')}`;
  if (current && current.section === section && current.view?.update) {
    current.key = key;
    current.view.update(args);
    return;
  }
  current?.view?.destroy?.();
  if (current) refreshPermissions(); // moving between sections re-reads what the role allows
  const mod = await section.load();
  if (parseHash().route !== name) return; // navigated elsewhere meanwhile
  current = { section, key, view: null };
  const container = h('div', { class: `view view-${name}` });
  replace(main, container);
  current.view = mod.mount(container, args, { navigate, realtime });
  document.title = `${t(section.label)} · scrm`;
}

// ---- permissions, banner ---------------------------------------------------------------

async function refreshPermissions() {
  if (!auth.signedIn || !auth.me) return;
  try { await auth.loadMe(); } catch { /* offline: keep what we have */ }
}

auth.addEventListener('permissions', () => {
  if (!auth.me || !current) return;
  renderTopbar();
  const target = SECTIONS.find((s) => s.route === parseHash().route);
  if (target && !auth.can(...target.perms)) {
    toast(t('shell.permissions_changed', { section: t(target.label) }), 'error');
    current.view?.destroy?.();
    current = null;
    const first = allowed()[0];
    if (first) location.replace(`#/${first.route}`);
    else route();
    return;
  }
  current.view?.permissionsChanged?.();
});
auth.addEventListener('login', () => {
  realtime.start();
  if (auth.me?.status === 'offline') {
    // Signing in means being at work: go online (the status menu switches to away).
    api('/api/me/status', { method: 'PUT', body: { status: 'online' } })
      .then(() => { auth.me.status = 'online'; renderTopbar(); })
      .catch(() => {});
  }
  current = null;
  if (!parseHash().route && allowed()[0]) location.replace(`#/${allowed()[0].route}`);
  route();
});
auth.addEventListener('logout', () => {
  realtime.stop();
  current?.view?.destroy?.();
  current = null;
  renderLogin(t('shell.signed_out'));
});
apiEvents.addEventListener('forbidden', refreshPermissions);
window.addEventListener('focus', refreshPermissions);
document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshPermissions(); });
setInterval(refreshPermissions, 60000);

realtime.addEventListener('state', (event) => {
  const state = event.detail;
  banner.hidden = state !== 'down';
  banner.textContent = state === 'down' ? t('shell.connection_lost') : '';
  document.body.dataset.realtime = state;
});
realtime.addEventListener('event', (event) => {
  const frame = event.detail;
  if (frame.type === 'permissions.changed') {
    // My role changed: re-read what I may do, and reconnect (from the saved cursor) so the
    // server subscribes this socket to what the new role may see.
    refreshPermissions();
    setTimeout(() => { realtime.stop(); realtime.start(); }, 0);
    return;
  }
  if (frame.type === 'note.mention') {
    import('./views/inbox-toolkit.js').then((toolkit) => toolkit.notifyMention(frame, navigate));
    return;
  }
  if (frame.type === 'agent.status' && frame.payload?.agent_id === auth.me?.id && frame.payload.status) {
    auth.me.status = frame.payload.status;
    const select = document.getElementById('presence');
    if (select) { select.value = frame.payload.status; select.dataset.status = frame.payload.status; }
  }
});

window.addEventListener('hashchange', route);
route();

// The audit log, newest first, with paging.
import { all, api } from '../api.js';
import { auth } from '../auth.js';
import { button, fmtTime, h, replace, showError } from '../dom.js';
import { t } from '../i18n.js';
import { page, table } from './admin-lib.js';

export function mount(root) {
  const body = h('div');
  const more = h('div');
  page(root, t('audit.title'), body, more);
  let rows = [];
  let cursor = null;
  let agents = [];

  async function load(next = false) {
    try {
      if (!next && auth.can('agents:read')) agents = await all('/api/agents', { limit: 200 }).catch(() => []);
      const data = await api('/api/audit', { query: { cursor: next ? cursor : null, limit: 100 } });
      rows = next ? [...rows, ...data.items] : data.items;
      cursor = data.next_cursor;
      const who = (id) => (id ? agents.find((a) => a.id === id)?.name || id.slice(0, 8) : t('audit.system'));
      replace(body, table(t('audit.title'), [
        [t('audit.when'), (r) => h('time', { datetime: r.created_at }, fmtTime(r.created_at))],
        [t('audit.who'), (r) => who(r.actor_agent_id)],
        [t('audit.action'), (r) => h('code', {}, r.action)],
        [t('audit.target'), (r) => `${r.target_type}${r.target_id ? ` ${r.target_id.slice(0, 8)}` : ''}`],
        [t('audit.details'), (r) => h('code', { class: 'details' }, JSON.stringify(r.details))],
      ], rows, t('audit.empty')));
      replace(more, cursor ? button(t('common.load_more'), () => load(true), { class: 'more' }) : null);
    } catch (err) { showError(err, t('audit.title')); }
  }

  load();
  return { permissionsChanged: () => load() };
}

// Templates synced from the WhatsApp Business Account, with their review status.
import { api } from '../api.js';
import { auth } from '../auth.js';
import { button, h, replace, showError, toast } from '../dom.js';
import { t } from '../i18n.js';
import { page, table } from './admin-lib.js';
import { componentText } from './templates-lib.js';

export function mount(root) {
  const tools = h('div', { class: 'toolbar' });
  const body = h('div');
  page(root, t('templates.title'), tools, body);

  async function load() {
    replace(tools, auth.can('templates:write') ? button(t('templates.sync'), async (e) => {
      e.target.disabled = true;
      try {
        const r = await api('/api/templates/sync', { method: 'POST' });
        toast(t('templates.synced', { created: r.created, updated: r.updated, removed: r.removed }));
        load();
      } catch (err) { showError(err, t('templates.sync_failed')); } finally { e.target.disabled = false; }
    }, { class: 'primary' }) : null);
    try {
      const data = await api('/api/templates');
      const items = Array.isArray(data) ? data : data.items;
      replace(body, table(t('shell.section.templates'), [
        [t('templates.name'), (tpl) => h('code', {}, tpl.name)],
        [t('templates.language'), (tpl) => tpl.language],
        [t('templates.category'), (tpl) => tpl.category],
        [t('templates.status'), (tpl) => h('span', { class: `chip ${tpl.status === 'APPROVED' ? 'open' : 'pending'}` }, tpl.status)],
        [t('templates.body'), (tpl) => componentText(tpl, 'BODY')],
      ], items, t('templates.empty')));
    } catch (err) { showError(err, t('shell.section.templates')); }
  }

  load();
  return { permissionsChanged: load };
}

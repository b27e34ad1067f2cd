// Templates synced from the WhatsApp Business Account, with their review status.
import { api } from '../api.js';
import { auth } from '../auth.js';
import { button, h, replace, showError, toast } from '../dom.js';
import { page, table } from './admin-lib.js';
import { componentText } from './templates-lib.js';

export function mount(root) {
  const tools = h('div', { class: 'toolbar' });
  const body = h('div');
  page(root, 'Message templates', tools, body);

  async function load() {
    replace(tools, auth.can('templates:write') ? button('Sync from WhatsApp', async (e) => {
      e.target.disabled = true;
      try {
        const r = await api('/api/templates/sync', { method: 'POST' });
        toast(`Synced: ${r.created} new, ${r.updated} updated, ${r.removed} removed.`);
        load();
      } catch (err) { showError(err, 'Sync failed'); } finally { e.target.disabled = false; }
    }, { class: 'primary' }) : null);
    try {
      const data = await api('/api/templates');
      const items = Array.isArray(data) ? data : data.items;
      replace(body, table('Templates', [
        ['Name', (t) => h('code', {}, t.name)],
        ['Language', (t) => t.language],
        ['Category', (t) => t.category],
        ['Status', (t) => h('span', { class: `chip ${t.status === 'APPROVED' ? 'open' : 'pending'}` }, t.status)],
        ['Body', (t) => componentText(t, 'BODY')],
      ], items, 'No templates yet: sync them from WhatsApp.'));
    } catch (err) { showError(err, 'Templates'); }
  }

  load();
  return { permissionsChanged: load };
}

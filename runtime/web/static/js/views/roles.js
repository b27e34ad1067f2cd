// Roles: a permission matrix (rows = permissions, columns = roles). Built-in roles are read-only.
import { api } from '../api.js';
import { auth } from '../auth.js';
import { button, field, h, replace, showError, toast } from '../dom.js';
import { known, t } from '../i18n.js';
import { page } from './admin-lib.js';

/** A permission's description in the agent's language (the server's English if not catalogued). */
function describe(permission) {
  const key = `permission.${permission.name}`;
  return known(key) ? t(key) : permission.description;
}

export function mount(root) {
  const top = h('section');
  const body = h('div');
  page(root, t('roles.title'), top, body);

  async function load() {
    try {
      const [perms, roles] = await Promise.all([api('/api/permissions'), api('/api/roles')]);
      render(perms, Array.isArray(roles) ? roles : roles.items);
    } catch (err) { showError(err, t('shell.section.roles')); }
  }

  function render(perms, roles) {
    const canWrite = auth.can('roles:write');
    const name = h('input', { type: 'text', required: true, name: 'name' });
    const description = h('input', { type: 'text', name: 'description' });
    replace(top, canWrite ? h('form', { class: 'card inline-form', 'aria-label': t('roles.create_label'), onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/roles', { method: 'POST', body: { name: name.value.trim(), description: description.value.trim(), permissions: [] } });
        toast(t('roles.created', { name: name.value }));
        load();
      } catch (err) { showError(err, t('common.not_created')); }
    } }, field(t('roles.name'), name), field(t('roles.description'), description), h('button', { type: 'submit', class: 'primary' }, t('roles.create'))) : null);

    const editable = (r) => canWrite && !r.builtin;
    const boxes = new Map(roles.map((r) => [r.id, []]));
    const rows = perms.map((p) => h('tr', {},
      h('th', { scope: 'row' }, h('code', {}, p.name), h('div', { class: 'hint' }, describe(p))),
      roles.map((r) => {
        const box = h('input', {
          type: 'checkbox', value: p.name, checked: r.permissions.includes(p.name), disabled: !editable(r),
          'aria-label': `${r.name}: ${p.name}`,
        });
        boxes.get(r.id).push(box);
        return h('td', { class: 'center' }, box);
      })));
    const actions = h('tr', {}, h('th', { scope: 'row' }, ''), roles.map((r) => h('td', { class: 'center' },
      editable(r) ? [
        button(t('common.save'), async () => {
          const permissions = boxes.get(r.id).filter((b) => b.checked).map((b) => b.value);
          try {
            await api(`/api/roles/${r.id}`, { method: 'PATCH', body: { permissions } });
            toast(t('roles.saved', { name: r.name }));
            if (auth.me.role_id === r.id) auth.loadMe();
          } catch (err) { showError(err, t('common.not_saved')); }
        }, { class: 'primary', 'aria-label': t('roles.save_label', { name: r.name }) }),
        button(t('common.delete'), async () => {
          if (!confirm(t('roles.confirm_delete', { name: r.name }))) return;
          try { await api(`/api/roles/${r.id}`, { method: 'DELETE' }); toast(t('roles.deleted')); load(); } catch (err) { showError(err, t('common.not_deleted')); }
        }, { class: 'link', 'aria-label': t('roles.delete_label', { name: r.name }) }),
      ] : h('span', { class: 'hint' }, r.builtin ? t('roles.builtin') : ''))));
    replace(body, h('div', { class: 'table-wrap' }, h('table', { class: 'matrix' },
      h('caption', { class: 'sr-only' }, t('roles.caption')),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('roles.permission')),
        roles.map((r) => h('th', { scope: 'col', class: 'center', title: r.description }, r.name)))),
      h('tbody', {}, rows, actions))));
  }

  load();
  return { permissionsChanged: load };
}

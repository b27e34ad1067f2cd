// Roles: a permission matrix (rows = permissions, columns = roles). Built-in roles are read-only.
import { api } from '../api.js';
import { auth } from '../auth.js';
import { button, field, h, replace, showError, toast } from '../dom.js';
import { page } from './admin-lib.js';

export function mount(root) {
  const top = h('section');
  const body = h('div');
  page(root, 'Roles and permissions', top, body);

  async function load() {
    try {
      const [perms, roles] = await Promise.all([api('/api/permissions'), api('/api/roles')]);
      render(perms, Array.isArray(roles) ? roles : roles.items);
    } catch (err) { showError(err, 'Roles'); }
  }

  function render(perms, roles) {
    const canWrite = auth.can('roles:write');
    const name = h('input', { type: 'text', required: true, name: 'name' });
    const description = h('input', { type: 'text', name: 'description' });
    replace(top, canWrite ? h('form', { class: 'card inline-form', 'aria-label': 'Create a role', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/roles', { method: 'POST', body: { name: name.value.trim(), description: description.value.trim(), permissions: [] } });
        toast(`Role ${name.value} created: tick its permissions below and save.`);
        load();
      } catch (err) { showError(err, 'Not created'); }
    } }, field('Role name', name), field('Description', description), h('button', { type: 'submit', class: 'primary' }, 'Create role')) : null);

    const editable = (r) => canWrite && !r.builtin;
    const boxes = new Map(roles.map((r) => [r.id, []]));
    const rows = perms.map((p) => h('tr', {},
      h('th', { scope: 'row' }, h('code', {}, p.name), h('div', { class: 'hint' }, p.description)),
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
        button('Save', async () => {
          const permissions = boxes.get(r.id).filter((b) => b.checked).map((b) => b.value);
          try {
            await api(`/api/roles/${r.id}`, { method: 'PATCH', body: { permissions } });
            toast(`Role ${r.name} saved.`);
            if (auth.me.role_id === r.id) auth.loadMe();
          } catch (err) { showError(err, 'Not saved'); }
        }, { class: 'primary', 'aria-label': `Save role ${r.name}` }),
        button('Delete', async () => {
          if (!confirm(`Delete role ${r.name}?`)) return;
          try { await api(`/api/roles/${r.id}`, { method: 'DELETE' }); toast('Role deleted.'); load(); } catch (err) { showError(err, 'Not deleted'); }
        }, { class: 'link', 'aria-label': `Delete role ${r.name}` }),
      ] : h('span', { class: 'hint' }, r.builtin ? 'built-in' : ''))));
    replace(body, h('div', { class: 'table-wrap' }, h('table', { class: 'matrix' },
      h('caption', { class: 'sr-only' }, 'Permissions of each role'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Permission'),
        roles.map((r) => h('th', { scope: 'col', class: 'center', title: r.description }, r.name)))),
      h('tbody', {}, rows, actions))));
  }

  load();
  return { permissionsChanged: load };
}

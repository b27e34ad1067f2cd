// Teams: create, rename, members, delete.
import { all, api } from '../api.js';
import { auth } from '../auth.js';
import { button, field, h, replace, showError, toast } from '../dom.js';
import { checkboxes, checkedValues, page, table } from './admin-lib.js';

export function mount(root) {
  const top = h('section');
  const body = h('div');
  page(root, 'Teams', top, body);

  async function load() {
    try {
      const [teams, agents] = await Promise.all([
        all('/api/teams', { limit: 200 }),
        auth.can('agents:read') ? all('/api/agents', { limit: 200 }) : Promise.resolve([]),
      ]);
      render(teams, agents);
    } catch (err) { showError(err, 'Teams'); }
  }

  function render(teams, agents) {
    const canWrite = auth.can('teams:write');
    const name = h('input', { type: 'text', required: true, name: 'name' });
    const description = h('input', { type: 'text', name: 'description' });
    replace(top, canWrite ? h('form', { class: 'card inline-form', 'aria-label': 'Create a team', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/teams', { method: 'POST', body: { name: name.value.trim(), description: description.value.trim() } });
        toast(`Team ${name.value} created.`);
        load();
      } catch (err) { showError(err, 'Not created'); }
    } }, field('Team name', name), field('Description', description), h('button', { type: 'submit', class: 'primary' }, 'Create team')) : null);
    const agentName = (id) => agents.find((a) => a.id === id)?.name || 'agent';
    replace(body, table('Teams', [
      ['Team', (t) => [h('strong', {}, t.name), t.description ? h('div', { class: 'hint' }, t.description) : null]],
      ['Assignment', (t) => t.assignment_strategy.replace('_', ' ')],
      ['Members', (t) => (canWrite && agents.length ? members(t, agents) : t.member_ids.map(agentName).join(', ') || '—')],
      ['', (t) => (canWrite ? button('Delete', async () => {
        if (!confirm(`Delete team ${t.name}?`)) return;
        try { await api(`/api/teams/${t.id}`, { method: 'DELETE' }); toast('Team deleted.'); load(); } catch (err) { showError(err, 'Not deleted'); }
      }, { class: 'danger', 'aria-label': `Delete team ${t.name}` }) : null)],
    ], teams));
  }

  function members(team, agents) {
    const box = checkboxes(`Members of ${team.name}`, agents.map((a) => [a.id, a.name]), team.member_ids, `m-${team.id}`);
    box.append(button('Save members', async () => {
      try {
        await api(`/api/teams/${team.id}/members`, { method: 'PUT', body: { agent_ids: checkedValues(box, `m-${team.id}`) } });
        toast(`Members of ${team.name} saved.`);
      } catch (err) { showError(err, 'Not saved'); }
    }));
    return box;
  }

  load();
  return { permissionsChanged: load };
}

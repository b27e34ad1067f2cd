// Agents: list, create (invite), change role / status / teams.
import { all, api } from '../api.js';
import { auth } from '../auth.js';
import { button, field, fmtTime, h, replace, showError, toast } from '../dom.js';
import { checkboxes, checkedValues, page, table } from './admin-lib.js';

const STATUSES = ['online', 'away', 'offline', 'disabled'];

export function mount(root) {
  const body = h('div');
  const form = h('section');
  page(root, 'Agents', form, body);
  let roles = [];
  let teams = [];

  async function load() {
    try {
      const [agents, r, t] = await Promise.all([
        all('/api/agents', { limit: 200 }),
        auth.can('roles:read') ? api('/api/roles') : Promise.resolve([]),
        auth.can('teams:read') ? all('/api/teams', { limit: 200 }) : Promise.resolve([]),
      ]);
      roles = Array.isArray(r) ? r : r.items;
      teams = t;
      render(agents);
    } catch (err) { showError(err, 'Agents'); }
  }

  function roleName(id) { return roles.find((r) => r.id === id)?.name || '—'; }

  function render(agents) {
    const canWrite = auth.can('agents:write');
    replace(form, canWrite && roles.length ? createForm() : null);
    replace(body, table('Agents', [
      ['Name', (a) => a.name],
      ['Email', (a) => a.email],
      ['Role', (a) => (canWrite && roles.length ? select(a, 'role_id', roles.map((r) => [r.id, r.name]), `Role of ${a.name}`) : roleName(a.role_id))],
      ['Status', (a) => (canWrite ? select(a, 'status', STATUSES.map((s) => [s, s]), `Status of ${a.name}`) : a.status)],
      ['Teams', (a) => a.team_ids.map((id) => teams.find((t) => t.id === id)?.name || 'team').join(', ') || '—'],
      ['Created', (a) => fmtTime(a.created_at)],
    ], agents));
  }

  function select(agent, key, options, label) {
    const el = h('select', { 'aria-label': label, onchange: async () => {
      try {
        await api(`/api/agents/${agent.id}`, { method: 'PATCH', body: { [key]: el.value } });
        agent[key] = el.value;
        toast(`${agent.name} updated.`);
      } catch (err) { showError(err, 'Not updated'); el.value = agent[key]; }
    } }, options.map(([v, t]) => h('option', { value: v, selected: v === agent[key] }, t)));
    return el;
  }

  function createForm() {
    const email = h('input', { type: 'email', required: true, name: 'email' });
    const name = h('input', { type: 'text', required: true, name: 'name' });
    const password = h('input', { type: 'password', required: true, minlength: '8', name: 'password', autocomplete: 'new-password' });
    const role = h('select', { name: 'role' }, roles.map((r) => h('option', { value: r.id, selected: r.name === 'agent' }, r.name)));
    const teamBox = teams.length ? checkboxes('Teams', teams.map((t) => [t.id, t.name]), [], 'team') : null;
    const f = h('form', { class: 'card inline-form', 'aria-label': 'Create an agent', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/agents', { method: 'POST', body: {
          email: email.value.trim(), name: name.value.trim(), password: password.value,
          role_id: role.value, team_ids: teamBox ? checkedValues(teamBox, 'team') : [],
        } });
        toast(`Agent ${name.value} created.`);
        f.reset();
        load();
      } catch (err) { showError(err, 'Not created'); }
    } },
    field('Email', email), field('Name', name), field('Initial password', password, 'At least 8 characters; share it with the agent.'),
    field('Role', role), teamBox, h('button', { type: 'submit', class: 'primary' }, 'Create agent'));
    return f;
  }

  load();
  return { permissionsChanged: load };
}

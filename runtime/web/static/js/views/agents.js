// Agents: list, create (invite), change role / status / teams.
import { all, api } from '../api.js';
import { auth } from '../auth.js';
import { button, field, fmtTime, h, replace, showError, toast } from '../dom.js';
import { t } from '../i18n.js';
import { checkboxes, checkedValues, page, table } from './admin-lib.js';

const STATUSES = ['online', 'away', 'offline', 'disabled'];

export function mount(root) {
  const body = h('div');
  const form = h('section');
  page(root, t('agents.title'), form, body);
  let roles = [];
  let teams = [];

  async function load() {
    try {
      const [agents, r, teamList] = await Promise.all([
        all('/api/agents', { limit: 200 }),
        auth.can('roles:read') ? api('/api/roles') : Promise.resolve([]),
        auth.can('teams:read') ? all('/api/teams', { limit: 200 }) : Promise.resolve([]),
      ]);
      roles = Array.isArray(r) ? r : r.items;
      teams = teamList;
      render(agents);
    } catch (err) { showError(err, t('agents.title')); }
  }

  function roleName(id) { return roles.find((r) => r.id === id)?.name || '—'; }

  function render(agents) {
    const canWrite = auth.can('agents:write');
    replace(form, canWrite && roles.length ? createForm() : null);
    replace(body, table(t('agents.title'), [
      [t('agents.name'), (a) => a.name],
      [t('agents.email'), (a) => a.email],
      [t('agents.role'), (a) => (canWrite && roles.length ? select(a, 'role_id', roles.map((r) => [r.id, r.name]), t('agents.role_of', { name: a.name })) : roleName(a.role_id))],
      [t('agents.status'), (a) => (canWrite ? select(a, 'status', STATUSES.map((s) => [s, t(`agents.status.${s}`)]), t('agents.status_of', { name: a.name })) : t(`agents.status.${a.status}`))],
      [t('agents.teams'), (a) => a.team_ids.map((id) => teams.find((team) => team.id === id)?.name || t('agents.a_team')).join(', ') || '—'],
      [t('agents.created'), (a) => fmtTime(a.created_at)],
    ], agents));
  }

  function select(agent, key, options, label) {
    const el = h('select', { 'aria-label': label, onchange: async () => {
      try {
        await api(`/api/agents/${agent.id}`, { method: 'PATCH', body: { [key]: el.value } });
        agent[key] = el.value;
        toast(t('agents.updated', { name: agent.name }));
      } catch (err) { showError(err, t('common.not_updated')); el.value = agent[key]; }
    } }, options.map(([v, text]) => h('option', { value: v, selected: v === agent[key] }, text)));
    return el;
  }

  function createForm() {
    const email = h('input', { type: 'email', required: true, name: 'email' });
    const name = h('input', { type: 'text', required: true, name: 'name' });
    const password = h('input', { type: 'password', required: true, minlength: '8', name: 'password', autocomplete: 'new-password' });
    const role = h('select', { name: 'role' }, roles.map((r) => h('option', { value: r.id, selected: r.name === 'agent' }, r.name)));
    const teamBox = teams.length ? checkboxes(t('agents.teams'), teams.map((team) => [team.id, team.name]), [], 'team') : null;
    const f = h('form', { class: 'card inline-form', 'aria-label': t('agents.create_label'), onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/agents', { method: 'POST', body: {
          email: email.value.trim(), name: name.value.trim(), password: password.value,
          role_id: role.value, team_ids: teamBox ? checkedValues(teamBox, 'team') : [],
        } });
        toast(t('agents.created_toast', { name: name.value }));
        f.reset();
        load();
      } catch (err) { showError(err, t('common.not_created')); }
    } },
    field(t('agents.email'), email), field(t('agents.name'), name), field(t('agents.initial_password'), password, t('agents.password_hint')),
    field(t('agents.role'), role), teamBox, h('button', { type: 'submit', class: 'primary' }, t('agents.create')));
    return f;
  }

  load();
  return { permissionsChanged: load };
}

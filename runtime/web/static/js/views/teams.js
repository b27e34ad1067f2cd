// Teams: create, rename, members, delete.
import { all, api } from '../api.js';
import { auth } from '../auth.js';
import { button, field, h, replace, showError, toast } from '../dom.js';
import { t } from '../i18n.js';
import { checkboxes, checkedValues, page, table } from './admin-lib.js';

export function mount(root) {
  const top = h('section');
  const body = h('div');
  page(root, t('teams.title'), top, body);

  async function load() {
    try {
      const [teams, agents] = await Promise.all([
        all('/api/teams', { limit: 200 }),
        auth.can('agents:read') ? all('/api/agents', { limit: 200 }) : Promise.resolve([]),
      ]);
      render(teams, agents);
    } catch (err) { showError(err, t('teams.title')); }
  }

  function render(teams, agents) {
    const canWrite = auth.can('teams:write');
    const name = h('input', { type: 'text', required: true, name: 'name' });
    const description = h('input', { type: 'text', name: 'description' });
    replace(top, canWrite ? h('form', { class: 'card inline-form', 'aria-label': t('teams.create_label'), onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/teams', { method: 'POST', body: { name: name.value.trim(), description: description.value.trim() } });
        toast(t('teams.created', { name: name.value }));
        load();
      } catch (err) { showError(err, t('common.not_created')); }
    } }, field(t('teams.name'), name), field(t('teams.description'), description), h('button', { type: 'submit', class: 'primary' }, t('teams.create'))) : null);
    const agentName = (id) => agents.find((a) => a.id === id)?.name || t('teams.an_agent');
    replace(body, table(t('teams.title'), [
      [t('teams.team'), (team) => [h('strong', {}, team.name), team.description ? h('div', { class: 'hint' }, team.description) : null]],
      [t('teams.assignment'), (team) => t(`teams.strategy.${team.assignment_strategy}`)],
      [t('teams.members'), (team) => (canWrite && agents.length ? members(team, agents) : team.member_ids.map(agentName).join(', ') || '—')],
      ['', (team) => (canWrite ? button(t('common.delete'), async () => {
        if (!confirm(t('teams.confirm_delete', { name: team.name }))) return;
        try { await api(`/api/teams/${team.id}`, { method: 'DELETE' }); toast(t('teams.deleted')); load(); } catch (err) { showError(err, t('common.not_deleted')); }
      }, { class: 'danger', 'aria-label': t('teams.delete_label', { name: team.name }) }) : null)],
    ], teams));
  }

  function members(team, agents) {
    const box = checkboxes(t('teams.members_of', { name: team.name }), agents.map((a) => [a.id, a.name]), team.member_ids, `m-${team.id}`);
    box.append(button(t('teams.save_members'), async () => {
      try {
        await api(`/api/teams/${team.id}/members`, { method: 'PUT', body: { agent_ids: checkedValues(box, `m-${team.id}`) } });
        toast(t('teams.members_saved', { name: team.name }));
      } catch (err) { showError(err, t('common.not_saved')); }
    }));
    return box;
  }

  load();
  return { permissionsChanged: load };
}

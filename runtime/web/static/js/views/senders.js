// Senders: quality, tier, throughput; primary/secondary allocation per team and agent.
import { all, api } from '../api.js';
import { auth } from '../auth.js';
import { button, field, h, replace, showError, toast } from '../dom.js';
import { formatNumber, t } from '../i18n.js';
import { checkboxes, checkedValues, page, table } from './admin-lib.js';

export function mount(root) {
  const list = h('section');
  const alloc = h('section');
  page(root, t('senders.title'), list, alloc);

  async function load() {
    try {
      const canAllocate = auth.can('senders:allocate');
      const [senders, allocations, teams, agents] = await Promise.all([
        api('/api/senders'),
        api('/api/senders/allocations').catch(() => []),
        canAllocate && auth.can('teams:read') ? all('/api/teams', { limit: 200 }) : [],
        canAllocate && auth.can('agents:read') ? all('/api/agents', { limit: 200 }) : [],
      ]);
      const items = Array.isArray(senders) ? senders : senders.items;
      const allocs = Array.isArray(allocations) ? allocations : allocations.items;
      const number = (id) => items.find((s) => s.id === id)?.display_number || '—';
      replace(list, table(t('shell.section.senders'), [
        [t('senders.number'), (s) => [h('strong', {}, s.display_number), h('div', { class: 'hint' }, s.verified_name)]],
        [t('senders.quality'), (s) => h('span', { class: `quality ${s.quality_rating}` }, s.quality_rating)],
        [t('senders.tier'), (s) => s.messaging_limit_tier.replace('TIER_', '').replace('_', ' ')],
        [t('senders.throughput'), (s) => t('senders.mps', { n: formatNumber(s.throughput_mps) }), 'num'],
        [t('senders.status'), (s) => s.status],
        ['WABA', (s) => h('span', { class: 'mono' }, s.waba_id)],
        [t('senders.allocated_to'), (s) => allocs.filter((a) => a.primary === s.id || a.secondaries.includes(s.id))
          .map((a) => `${holderName(a, teams, agents)} (${a.primary === s.id ? t('senders.primary_lc') : t('senders.secondary_lc')})`).join(', ') || '—'],
      ], items, t('senders.empty')));
      if (!canAllocate) return replace(alloc);
      const holders = [...teams.map((team) => ['teams', team.id, t('senders.team_holder', { name: team.name })]), ...agents.map((a) => ['agents', a.id, a.name])];
      replace(alloc, h('h2', {}, t('senders.allocation')),
        h('p', { class: 'hint' }, t('senders.allocation_hint')),
        table(t('senders.allocation_caption'), [
          [t('senders.holder'), ([, , name]) => name],
          [t('senders.primary'), ([kind, id, name]) => {
            const current = allocs.find((a) => a.holder_id === id);
            const sel = h('select', { 'aria-label': t('senders.primary_of', { name }), dataset: { role: 'primary' } },
              h('option', { value: '' }, t('senders.none')), items.map((s) => h('option', { value: s.id, selected: current?.primary === s.id }, s.display_number)));
            return sel;
          }],
          [t('senders.secondaries'), ([, id, name]) => {
            const current = allocs.find((a) => a.holder_id === id);
            return checkboxes(t('senders.secondaries_of', { name }), items.map((s) => [s.id, s.display_number]), current?.secondaries || [], `sec-${id}`);
          }],
          ['', ([kind, id, name]) => button(t('common.save'), async (e) => {
            const row = e.target.closest('tr');
            const primary = row.querySelector('select[data-role=primary]').value || null;
            try {
              await api(`/api/senders/allocations/${kind}/${id}`, { method: 'PUT', body: { primary, secondaries: checkedValues(row, `sec-${id}`) } });
              toast(t('senders.saved', { name }));
              load();
            } catch (err) { showError(err, t('common.not_saved')); }
          }, { 'aria-label': t('senders.save_label', { name }) })],
        ], holders.map((x) => Object.assign(x, { id: x[1] }))));
      void number;
    } catch (err) { showError(err, t('shell.section.senders')); }
  }

  function holderName(a, teams, agents) {
    if (a.holder_type === 'team') return t('senders.team_holder', { name: teams.find((team) => team.id === a.holder_id)?.name || '' }).trim();
    return agents.find((x) => x.id === a.holder_id)?.name || t('senders.an_agent');
  }

  load();
  return { permissionsChanged: load };
}

// Senders: quality, tier, throughput; primary/secondary allocation per team and agent.
import { all, api } from '../api.js';
import { auth } from '../auth.js';
import { button, field, h, replace, showError, toast } from '../dom.js';
import { checkboxes, checkedValues, page, table } from './admin-lib.js';

export function mount(root) {
  const list = h('section');
  const alloc = h('section');
  page(root, 'Sender numbers', list, alloc);

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
      replace(list, table('Senders', [
        ['Number', (s) => [h('strong', {}, s.display_number), h('div', { class: 'hint' }, s.verified_name)]],
        ['Quality', (s) => h('span', { class: `quality ${s.quality_rating}` }, s.quality_rating)],
        ['Messaging tier', (s) => s.messaging_limit_tier.replace('TIER_', '').replace('_', ' ')],
        ['Throughput', (s) => `${s.throughput_mps} msg/s`, 'num'],
        ['Status', (s) => s.status],
        ['WABA', (s) => h('span', { class: 'mono' }, s.waba_id)],
        ['Allocated to', (s) => allocs.filter((a) => a.primary === s.id || a.secondaries.includes(s.id))
          .map((a) => `${holderName(a, teams, agents)} (${a.primary === s.id ? 'primary' : 'secondary'})`).join(', ') || '—'],
      ], items, 'No sender numbers. A platform operator adds them as Sender resources.'));
      if (!canAllocate) return replace(alloc);
      const holders = [...teams.map((t) => ['teams', t.id, `Team ${t.name}`]), ...agents.map((a) => ['agents', a.id, a.name])];
      replace(alloc, h('h2', {}, 'Allocation'),
        h('p', { class: 'hint' }, 'Agents chat through their own primary number, else their team\'s. Secondaries are allowed alternatives.'),
        table('Sender allocation', [
          ['Holder', ([, , name]) => name],
          ['Primary', ([kind, id, name]) => {
            const current = allocs.find((a) => a.holder_id === id);
            const sel = h('select', { 'aria-label': `Primary number of ${name}`, dataset: { role: 'primary' } },
              h('option', { value: '' }, 'None'), items.map((s) => h('option', { value: s.id, selected: current?.primary === s.id }, s.display_number)));
            return sel;
          }],
          ['Secondaries', ([, id, name]) => {
            const current = allocs.find((a) => a.holder_id === id);
            return checkboxes(`Secondary numbers of ${name}`, items.map((s) => [s.id, s.display_number]), current?.secondaries || [], `sec-${id}`);
          }],
          ['', ([kind, id, name]) => button('Save', async (e) => {
            const row = e.target.closest('tr');
            const primary = row.querySelector('select[data-role=primary]').value || null;
            try {
              await api(`/api/senders/allocations/${kind}/${id}`, { method: 'PUT', body: { primary, secondaries: checkedValues(row, `sec-${id}`) } });
              toast(`Allocation of ${name} saved.`);
              load();
            } catch (err) { showError(err, 'Not saved'); }
          }, { 'aria-label': `Save allocation of ${name}` })],
        ], holders.map((x) => Object.assign(x, { id: x[1] }))));
      void number;
    } catch (err) { showError(err, 'Senders'); }
  }

  function holderName(a, teams, agents) {
    if (a.holder_type === 'team') return `Team ${teams.find((t) => t.id === a.holder_id)?.name || ''}`.trim();
    return agents.find((x) => x.id === a.holder_id)?.name || 'an agent';
  }

  load();
  return { permissionsChanged: load };
}

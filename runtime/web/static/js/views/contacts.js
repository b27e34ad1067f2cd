// Contacts: search, CSV import with upload progress and the per-row report, bulk assign,
// start a conversation, and the case pool (claim next / claim / release).
import { all, api, upload } from '../api.js';
import { auth } from '../auth.js';
import { button, debounce, field, fmtTime, h, replace, showError, toast } from '../dom.js';
import { formatNumber, t } from '../i18n.js';
import { page, table } from './admin-lib.js';

// A contact as people know it: a name, else the phone, else Meta's user id.
const who = (c) => c.name || c.phone || c.wa_user_id;

export function mount(root, args, { navigate }) {
  const subnav = h('nav', { class: 'subnav', 'aria-label': t('contacts.views') });
  const importBox = h('section');
  const tools = h('section');
  const body = h('div');
  page(root, t('shell.section.contacts'), subnav, importBox, tools, body);
  const state = { sub: args[0] === 'pool' ? 'pool' : 'all', q: '', pooled: '', cursor: null, rows: [], agents: [], teams: [] };

  function renderSubnav() {
    const items = [['all', t('contacts.all'), '#/contacts']];
    if (auth.can('pool:claim', 'contacts:assign')) items.push(['pool', t('contacts.pool'), '#/contacts/pool']);
    replace(subnav, items.map(([key, label, href]) => h('a', { href, 'aria-current': state.sub === key ? 'page' : null }, label)));
  }

  // ---------- import ----------
  function renderImport() {
    if (!auth.can('contacts:import') || state.sub !== 'all') return replace(importBox);
    const file = h('input', { type: 'file', accept: '.csv,text/csv', required: true, name: 'file' });
    const progress = h('progress', { max: '100', value: '0', hidden: true, 'aria-label': t('contacts.upload_progress') });
    const report = h('div', { class: 'report', 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'primary' }, t('contacts.import'));
    const form = h('form', { class: 'card', 'aria-labelledby': 'import-title', onsubmit: async (e) => {
      e.preventDefault();
      if (!file.files.length) return;
      const data = new FormData();
      data.append('file', file.files[0]);
      submit.disabled = true;
      progress.hidden = false;
      progress.value = 0;
      replace(report, h('p', {}, t('contacts.uploading')));
      try {
        const job = await upload('/api/contacts/imports', data, (fraction) => {
          progress.value = Math.round(fraction * 100);
          if (fraction >= 1) replace(report, h('p', {}, t('contacts.processing')));
        });
        progress.value = 100;
        replace(report, importReport(job));
        loadContacts();
      } catch (err) {
        replace(report, h('p', { class: 'form-error', role: 'alert' }, t('contacts.import_failed', { message: err.message })));
      } finally { submit.disabled = false; }
    } },
    h('h2', { id: 'import-title' }, t('contacts.import_title')),
    h('p', { class: 'hint' }, t('contacts.import_hint')),
    h('div', { class: 'inline-form' }, field(t('contacts.csv_file'), file), submit), progress, report);
    replace(importBox, form);
  }

  function importReport(job) {
    return h('div', { class: 'import-report', dataset: { status: job.status } },
      h('div', { class: 'summary' },
        h('span', {}, t('contacts.rows', { n: formatNumber(job.total_rows) })),
        h('span', {}, t('contacts.created_n', { n: formatNumber(job.created_count) })),
        h('span', {}, t('contacts.updated_n', { n: formatNumber(job.updated_count) })),
        h('span', { class: job.error_count ? 'bad' : '' }, t('contacts.errors_n', { n: formatNumber(job.error_count) }))),
      job.fatal_error ? h('p', { class: 'form-error' }, job.fatal_error) : null,
      job.errors?.length ? table(t('contacts.rows_not_imported'), [
        [t('contacts.line'), (e) => String(e.line), 'num'],
        [t('contacts.field'), (e) => e.field || '—'],
        [t('contacts.problem'), (e) => e.message],
        [t('contacts.code'), (e) => h('code', {}, e.code)],
        [t('contacts.value'), (e) => (e.value === null || e.value === undefined ? '' : String(e.value))],
      ], job.errors) : h('p', {}, t('contacts.all_imported')));
  }

  // ---------- list + bulk assign ----------
  function renderTools() {
    const search = h('input', { type: 'search', value: state.q, oninput: debounce(() => { state.q = search.value.trim(); loadContacts(); }, 250) });
    const pooled = h('select', { onchange: () => { state.pooled = pooled.value; loadContacts(); } },
      [['', t('contacts.any')], ['true', t('contacts.in_pool')], ['false', t('contacts.assigned')]].map(([v, text]) => h('option', { value: v, selected: v === state.pooled }, text)));
    const parts = [field(t('contacts.search'), search), field(t('contacts.assignment'), pooled)];
    if (auth.can('contacts:assign') && (state.agents.length || state.teams.length)) {
      const target = h('select', {}, h('option', { value: '' }, t('contacts.choose')),
        state.agents.length ? h('optgroup', { label: t('shell.section.agents') }, state.agents.map((a) => h('option', { value: `agent:${a.id}` }, a.name))) : null,
        state.teams.length ? h('optgroup', { label: t('shell.section.teams') }, state.teams.map((team) => h('option', { value: `team:${team.id}` }, team.name))) : null);
      parts.push(field(t('contacts.assign_to'), target), button(t('contacts.assign_selected'), async () => {
        const ids = [...body.querySelectorAll('input[name=pick]:checked')].map((i) => i.value);
        if (!ids.length || !target.value) return toast(t('contacts.pick_first'), 'error');
        const [kind, id] = target.value.split(':');
        try {
          await api('/api/contacts/assign', { method: 'POST', body: { contact_ids: ids, [`${kind}_id`]: id } });
          toast(t('contacts.assigned_n', { n: formatNumber(ids.length) }));
          loadContacts();
        } catch (err) { showError(err, t('contacts.not_assigned')); }
      }));
    }
    if (auth.can('contacts:write')) parts.push(newContactForm());
    replace(tools, h('div', { class: 'toolbar' }, parts));
  }

  function newContactForm() {
    const phone = h('input', { type: 'tel', required: true, name: 'phone', placeholder: '+62…' });
    const name = h('input', { type: 'text', name: 'name' });
    return h('form', { class: 'inline-form', 'aria-label': t('contacts.add_label'), onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/contacts', { method: 'POST', body: { phone: phone.value.trim(), name: name.value.trim() || null } });
        toast(t('contacts.added'));
        phone.value = name.value = '';
        loadContacts();
      } catch (err) { showError(err, t('contacts.not_added')); }
    } }, field(t('contacts.new_phone'), phone), field(t('contacts.name'), name), h('button', { type: 'submit' }, t('contacts.add')));
  }

  const agentName = (id) => state.agents.find((a) => a.id === id)?.name || (id === auth.me.id ? auth.me.name : t('contacts.an_agent'));
  const teamName = (id) => state.teams.find((team) => team.id === id)?.name || t('contacts.a_team');

  async function loadContacts(more = false) {
    try {
      const pageData = state.sub === 'pool'
        ? await api('/api/pool', { query: { cursor: more ? state.cursor : null, limit: 100 } })
        : await api('/api/contacts', { query: { q: state.q, pooled: state.pooled, cursor: more ? state.cursor : null, limit: 100 } });
      state.rows = more ? [...state.rows, ...pageData.items] : pageData.items;
      state.cursor = pageData.next_cursor;
      renderRows();
    } catch (err) { showError(err, t('shell.section.contacts')); }
  }

  function renderRows() {
    const canAssign = auth.can('contacts:assign');
    const canStart = auth.can('inbox:send');
    const canClaim = auth.can('pool:claim');
    const columns = [];
    if (canAssign && state.sub === 'all') columns.push([t('contacts.select'), (c) => h('input', { type: 'checkbox', name: 'pick', value: c.id, 'aria-label': t('contacts.select_one', { name: who(c) }) })]);
    columns.push(
      [t('contacts.name'), (c) => c.name || '—'],
      [t('contacts.phone'), (c) => h('span', { class: 'mono' }, c.phone || '—')],
      [t('contacts.tags'), (c) => c.tags.join(', ')],
      [t('contacts.assigned_to'), (c) => (c.assigned_agent_id ? agentName(c.assigned_agent_id) : c.assigned_team_id ? teamName(c.assigned_team_id) : t('contacts.the_pool'))],
      [t('contacts.updated'), (c) => fmtTime(c.updated_at)],
      ['', (c) => [
        canStart ? button(t('contacts.message'), () => startConversation(c), { 'aria-label': t('contacts.message_one', { name: who(c) }) }) : null,
        canClaim && !c.assigned_agent_id ? button(t('contacts.claim'), () => act(c, 'claim'), { 'aria-label': t('contacts.claim_one', { name: who(c) }) }) : null,
        canClaim && c.assigned_agent_id === auth.me.id ? button(t('contacts.release'), () => act(c, 'release'), { class: 'link', 'aria-label': t('contacts.release_one', { name: who(c) }) }) : null,
      ]],
    );
    const head = state.sub === 'pool' && canClaim
      ? h('div', { class: 'toolbar' }, button(t('contacts.claim_next'), async () => {
        try {
          const c = await api('/api/pool/claim-next', { method: 'POST' });
          toast(c ? t('contacts.claimed_one', { name: who(c) }) : t('contacts.pool_empty'));
          loadContacts();
        } catch (err) { showError(err, t('contacts.nothing_claimed')); }
      }, { class: 'primary' }))
      : null;
    replace(body, head, table(state.sub === 'pool' ? t('contacts.pool') : t('shell.section.contacts'), columns, state.rows, state.sub === 'pool' ? t('contacts.pool_empty') : t('contacts.none')),
      state.cursor ? button(t('common.load_more'), () => loadContacts(true), { class: 'more' }) : null);
  }

  async function act(contact, action) {
    try {
      await api(`/api/contacts/${contact.id}/${action}`, { method: 'POST' });
      toast(action === 'claim' ? t('contacts.claimed') : t('contacts.released'));
      loadContacts();
    } catch (err) { showError(err, action === 'claim' ? t('contacts.not_claimed') : t('contacts.not_released')); }
  }

  async function startConversation(contact) {
    try {
      const conv = await api('/api/conversations', { method: 'POST', body: { contact_id: contact.id } });
      navigate(`inbox/${conv.id}`);
    } catch (err) { showError(err, t('contacts.cannot_start')); }
  }

  async function load() {
    const [agents, teams] = await Promise.all([
      auth.can('agents:read') ? all('/api/agents', { limit: 200 }).catch(() => []) : [],
      auth.can('teams:read') ? all('/api/teams', { limit: 200 }).catch(() => []) : [],
    ]);
    state.agents = agents;
    state.teams = teams;
    renderSubnav();
    renderImport();
    if (state.sub === 'all') renderTools(); else replace(tools);
    loadContacts();
  }

  load();
  return {
    update(nextArgs) { state.sub = nextArgs[0] === 'pool' ? 'pool' : 'all'; state.cursor = null; load(); },
    permissionsChanged: load,
  };
}

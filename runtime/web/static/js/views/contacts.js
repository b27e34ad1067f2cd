// Contacts: search, CSV import with upload progress and the per-row report, bulk assign,
// start a conversation, and the case pool (claim next / claim / release).
import { all, api, upload } from '../api.js';
import { auth } from '../auth.js';
import { button, debounce, field, fmtTime, h, replace, showError, toast } from '../dom.js';
import { page, table } from './admin-lib.js';

export function mount(root, args, { navigate }) {
  const subnav = h('nav', { class: 'subnav', 'aria-label': 'Contacts views' });
  const importBox = h('section');
  const tools = h('section');
  const body = h('div');
  page(root, 'Contacts', subnav, importBox, tools, body);
  const state = { sub: args[0] === 'pool' ? 'pool' : 'all', q: '', pooled: '', cursor: null, rows: [], agents: [], teams: [] };

  function renderSubnav() {
    const items = [['all', 'All contacts', '#/contacts']];
    if (auth.can('pool:claim', 'contacts:assign')) items.push(['pool', 'Case pool', '#/contacts/pool']);
    replace(subnav, items.map(([key, label, href]) => h('a', { href, 'aria-current': state.sub === key ? 'page' : null }, label)));
  }

  // ---------- import ----------
  function renderImport() {
    if (!auth.can('contacts:import') || state.sub !== 'all') return replace(importBox);
    const file = h('input', { type: 'file', accept: '.csv,text/csv', required: true, name: 'file' });
    const progress = h('progress', { max: '100', value: '0', hidden: true, 'aria-label': 'Upload progress' });
    const report = h('div', { class: 'report', 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Import');
    const form = h('form', { class: 'card', 'aria-labelledby': 'import-title', onsubmit: async (e) => {
      e.preventDefault();
      if (!file.files.length) return;
      const data = new FormData();
      data.append('file', file.files[0]);
      submit.disabled = true;
      progress.hidden = false;
      progress.value = 0;
      replace(report, h('p', {}, 'Uploading…'));
      try {
        const job = await upload('/api/contacts/imports', data, (fraction) => {
          progress.value = Math.round(fraction * 100);
          if (fraction >= 1) replace(report, h('p', {}, 'Processing…'));
        });
        progress.value = 100;
        replace(report, importReport(job));
        loadContacts();
      } catch (err) {
        replace(report, h('p', { class: 'form-error', role: 'alert' }, `Import failed: ${err.message}`));
      } finally { submit.disabled = false; }
    } },
    h('h2', { id: 'import-title' }, 'Import contacts from CSV'),
    h('p', { class: 'hint' }, 'UTF-8, a header line first. Columns: phone (required), name, email, tags (separated by |); other columns become attributes.'),
    h('div', { class: 'inline-form' }, field('CSV file', file), submit), progress, report);
    replace(importBox, form);
  }

  function importReport(job) {
    return h('div', { class: 'import-report', dataset: { status: job.status } },
      h('div', { class: 'summary' },
        h('span', {}, `Rows: ${job.total_rows}`),
        h('span', {}, `Created: ${job.created_count}`),
        h('span', {}, `Updated: ${job.updated_count}`),
        h('span', { class: job.error_count ? 'bad' : '' }, `Errors: ${job.error_count}`)),
      job.fatal_error ? h('p', { class: 'form-error' }, job.fatal_error) : null,
      job.errors?.length ? table('Rows that were not imported', [
        ['Line', (e) => String(e.line), 'num'],
        ['Field', (e) => e.field || '—'],
        ['Problem', (e) => e.message],
        ['Code', (e) => h('code', {}, e.code)],
        ['Value', (e) => (e.value === null || e.value === undefined ? '' : String(e.value))],
      ], job.errors) : h('p', {}, 'Every row was imported.'));
  }

  // ---------- list + bulk assign ----------
  function renderTools() {
    const search = h('input', { type: 'search', value: state.q, oninput: debounce(() => { state.q = search.value.trim(); loadContacts(); }, 250) });
    const pooled = h('select', { onchange: () => { state.pooled = pooled.value; loadContacts(); } },
      [['', 'Any'], ['true', 'In the pool'], ['false', 'Assigned']].map(([v, t]) => h('option', { value: v, selected: v === state.pooled }, t)));
    const parts = [field('Search contacts', search), field('Assignment', pooled)];
    if (auth.can('contacts:assign') && (state.agents.length || state.teams.length)) {
      const target = h('select', {}, h('option', { value: '' }, 'Choose…'),
        state.agents.length ? h('optgroup', { label: 'Agents' }, state.agents.map((a) => h('option', { value: `agent:${a.id}` }, a.name))) : null,
        state.teams.length ? h('optgroup', { label: 'Teams' }, state.teams.map((t) => h('option', { value: `team:${t.id}` }, t.name))) : null);
      parts.push(field('Assign selected to', target), button('Assign selected', async () => {
        const ids = [...body.querySelectorAll('input[name=pick]:checked')].map((i) => i.value);
        if (!ids.length || !target.value) return toast('Pick contacts and an agent or team first.', 'error');
        const [kind, id] = target.value.split(':');
        try {
          await api('/api/contacts/assign', { method: 'POST', body: { contact_ids: ids, [`${kind}_id`]: id } });
          toast(`${ids.length} contact(s) assigned.`);
          loadContacts();
        } catch (err) { showError(err, 'Not assigned'); }
      }));
    }
    if (auth.can('contacts:write')) parts.push(newContactForm());
    replace(tools, h('div', { class: 'toolbar' }, parts));
  }

  function newContactForm() {
    const phone = h('input', { type: 'tel', required: true, name: 'phone', placeholder: '+62…' });
    const name = h('input', { type: 'text', name: 'name' });
    return h('form', { class: 'inline-form', 'aria-label': 'Add a contact', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/contacts', { method: 'POST', body: { phone: phone.value.trim(), name: name.value.trim() || null } });
        toast('Contact added.');
        phone.value = name.value = '';
        loadContacts();
      } catch (err) { showError(err, 'Not added'); }
    } }, field('New contact phone', phone), field('Name', name), h('button', { type: 'submit' }, 'Add contact'));
  }

  const agentName = (id) => state.agents.find((a) => a.id === id)?.name || (id === auth.me.id ? auth.me.name : 'agent');
  const teamName = (id) => state.teams.find((t) => t.id === id)?.name || 'team';

  async function loadContacts(more = false) {
    try {
      const pageData = state.sub === 'pool'
        ? await api('/api/pool', { query: { cursor: more ? state.cursor : null, limit: 100 } })
        : await api('/api/contacts', { query: { q: state.q, pooled: state.pooled, cursor: more ? state.cursor : null, limit: 100 } });
      state.rows = more ? [...state.rows, ...pageData.items] : pageData.items;
      state.cursor = pageData.next_cursor;
      renderRows();
    } catch (err) { showError(err, 'Contacts'); }
  }

  function renderRows() {
    const canAssign = auth.can('contacts:assign');
    const canStart = auth.can('inbox:send');
    const canClaim = auth.can('pool:claim');
    const columns = [];
    if (canAssign && state.sub === 'all') columns.push(['Select', (c) => h('input', { type: 'checkbox', name: 'pick', value: c.id, 'aria-label': `Select ${c.name || c.phone || c.wa_user_id}` })]);
    columns.push(
      ['Name', (c) => c.name || '—'],
      ['Phone', (c) => h('span', { class: 'mono' }, c.phone || '—')],
      ['Tags', (c) => c.tags.join(', ')],
      ['Assigned to', (c) => (c.assigned_agent_id ? agentName(c.assigned_agent_id) : c.assigned_team_id ? teamName(c.assigned_team_id) : 'pool')],
      ['Updated', (c) => fmtTime(c.updated_at)],
      ['', (c) => [
        canStart ? button('Message', () => startConversation(c), { 'aria-label': `Message ${c.name || c.phone || c.wa_user_id}` }) : null,
        canClaim && !c.assigned_agent_id ? button('Claim', () => act(c, 'claim'), { 'aria-label': `Claim ${c.name || c.phone || c.wa_user_id}` }) : null,
        canClaim && c.assigned_agent_id === auth.me.id ? button('Release', () => act(c, 'release'), { class: 'link', 'aria-label': `Release ${c.name || c.phone || c.wa_user_id}` }) : null,
      ]],
    );
    const head = state.sub === 'pool' && canClaim
      ? h('div', { class: 'toolbar' }, button('Claim next from the pool', async () => {
        try {
          const c = await api('/api/pool/claim-next', { method: 'POST' });
          toast(c ? `Claimed ${c.name || c.phone || c.wa_user_id}.` : 'The pool is empty.');
          loadContacts();
        } catch (err) { showError(err, 'Nothing claimed'); }
      }, { class: 'primary' }))
      : null;
    replace(body, head, table(state.sub === 'pool' ? 'Case pool' : 'Contacts', columns, state.rows, state.sub === 'pool' ? 'The pool is empty.' : 'No contacts.'),
      state.cursor ? button('Load more', () => loadContacts(true), { class: 'more' }) : null);
  }

  async function act(contact, action) {
    try {
      await api(`/api/contacts/${contact.id}/${action}`, { method: 'POST' });
      toast(action === 'claim' ? 'Contact claimed: it is yours now.' : 'Contact released to the pool.');
      loadContacts();
    } catch (err) { showError(err, action === 'claim' ? 'Not claimed' : 'Not released'); }
  }

  async function startConversation(contact) {
    try {
      const conv = await api('/api/conversations', { method: 'POST', body: { contact_id: contact.id } });
      navigate(`inbox/${conv.id}`);
    } catch (err) { showError(err, 'Cannot start a conversation'); }
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

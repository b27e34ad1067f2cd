// Campaigns: the list with live progress, the builder (audience count, preview per recipient,
// estimate, each number's warm-up budget today), and one campaign's results (totals, rates,
// the chart over time, recipients, CSV export).
import { all, api } from '../api.js';
import { auth } from '../auth.js';
import { button, debounce, field, fmtTime, h, replace, showError, toast } from '../dom.js';
import { formatNumber, t } from '../i18n.js';
import { page, table } from './admin-lib.js';
import { timelineChart } from './campaign-chart.js';
import { componentText } from './templates-lib.js';

const REFRESH_MS = 3000;
const STATES = ['pending', 'queued', 'sent', 'delivered', 'read', 'replied', 'failed', 'skipped'];
const SOURCES = [['name', 'Name'], ['phone', 'Phone'], ['email', 'E-mail'], ['attributes.', 'Attribute…']];

export function mount(root, args = []) {
  return args[0] ? results(root, args[0]) : list(root);
}

function progress(totals) {
  const total = STATES.reduce((n, s) => n + (totals[s] || 0), 0);
  const done = total - (totals.pending || 0);
  return h('div', { class: 'progress-cell' },
    h('progress', { max: String(total || 1), value: String(done), 'aria-label': 'Handed on' }),
    h('span', { class: 'hint' }, `${done} / ${total}`));
}

/** A bar of ``share`` (0..1); the width is set through the CSSOM (the CSP refuses inline styles). */
function barFill(share) {
  const fill = h('span', { class: 'bar-fill' });
  fill.style.width = `${(100 * share).toFixed(1)}%`;
  return fill;
}

function list(root) {
  const tools = h('div', { class: 'toolbar' });
  const body = h('div');
  const builder = h('section', { class: 'builder' });
  page(root, 'Campaigns', tools, body, builder);
  let timer = null;

  async function load() {
    replace(tools, auth.can('campaigns:write')
      ? button('New campaign', () => build(builder, load), { class: 'primary' }) : null);
    try {
      const campaigns = await api('/api/campaigns', { query: { limit: 50 } });
      replace(body, table('Campaigns', [
        ['Name', (c) => h('a', { href: `#/campaigns/${c.id}` }, c.name)],
        ['Status', (c) => h('span', { class: `chip ${c.status}` }, c.status)],
        ['Progress', (c) => progress(c.totals)],
        ['Template', (c) => h('code', {}, c.template.name)],
        ['Rate', (c) => `${c.rate_per_minute}/min`, 'num'],
        ['Created', (c) => fmtTime(c.created_at)],
      ], campaigns.items, 'No campaigns yet.'));
    } catch (err) { showError(err, 'Campaigns'); }
    clearTimeout(timer);
    if (root.isConnected) timer = setTimeout(load, REFRESH_MS); // live progress
  }

  load();
  return { permissionsChanged: load };
}

// ---- builder ---------------------------------------------------------------------------------

async function build(section, done) {
  const [templates, senders, audiences, warmups] = await Promise.all([
    api('/api/templates'), api('/api/senders'), all('/api/audiences', { limit: 200 }),
    api('/api/campaigns/warmups'),
  ]).catch((err) => { showError(err, 'Builder'); return [[], [], [], []]; });
  const approved = (Array.isArray(templates) ? templates : templates.items).filter((t) => t.status === 'APPROVED');
  const numbers = Array.isArray(senders) ? senders : senders.items;

  const name = h('input', { required: true, maxlength: '200' });
  const tag = h('input', { placeholder: 'e.g. vip' });
  const consent = h('select', {}, h('option', { value: '' }, 'Any'),
    ['opted_in', 'unknown', 'opted_out'].map((s) => h('option', { value: s }, s)));
  const saved = h('select', {}, h('option', { value: '' }, 'New audience from the filters below'),
    audiences.map((a) => h('option', { value: a.id }, a.name)));
  const count = h('output', { class: 'audience-count', 'aria-live': 'polite' }, '—');
  const template = h('select', {}, approved.map((t, i) => h('option', { value: String(i) }, `${t.name} (${t.language}, ${t.category})`)));
  const params = h('div', { class: 'params' });
  const sender = h('select', {}, h('option', { value: 'allocated' }, 'Each contact\'s allocated number'),
    numbers.map((s) => h('option', { value: s.id }, s.display_number)));
  const rate = h('input', { type: 'number', min: '1', value: '600' });
  const windowStart = h('input', { type: 'time', value: '09:00' });
  const windowEnd = h('input', { type: 'time', value: '20:00' });
  const weekdaysOnly = h('input', { type: 'checkbox', checked: true });
  const result = h('div', { class: 'builder-result' });

  function definition() {
    const conditions = [];
    if (tag.value.trim()) conditions.push({ field: 'tags', op: 'has', value: tag.value.trim() });
    if (consent.value) conditions.push({ field: 'consent', op: 'eq', value: consent.value });
    if (!conditions.length) conditions.push({ field: 'created_at', op: 'before', value: new Date().toISOString() });
    return { all: conditions };
  }

  const recount = debounce(async () => {
    try {
      const r = saved.value
        ? await api(`/api/audiences/${saved.value}/count`)
        : await api('/api/audiences/count', { method: 'POST', body: { definition: definition() } });
      count.value = `${r.count} contacts`;
    } catch (err) { count.value = err.message; }
  }, 300);

  function placeholders() {
    const t = approved[Number(template.value)];
    const text = t ? componentText(t, 'BODY') : '';
    return [...new Set([...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]))];
  }

  function renderParams() {
    replace(params, placeholders().map((p) => h('div', { class: 'param' },
      field(`Parameter {{${p}}}`, h('select', { dataset: { role: 'source' } }, SOURCES.map(([v, l]) => h('option', { value: v }, l)))),
      field(`Attribute key for {{${p}}}`, h('input', { dataset: { role: 'key' }, placeholder: 'city' })),
      field(`Fallback for {{${p}}}`, h('input', { dataset: { role: 'fallback' }, placeholder: 'there' })))));
  }

  function mapping() {
    return [...params.querySelectorAll('.param')].map((row) => {
      const source = row.querySelector('[data-role=source]').value;
      const key = row.querySelector('[data-role=key]').value.trim();
      const fallback = row.querySelector('[data-role=fallback]').value.trim();
      return { field: source === 'attributes.' ? `attributes.${key}` : source, ...(fallback ? { fallback } : {}) };
    });
  }

  async function create(e) {
    e.preventDefault();
    const t = approved[Number(template.value)];
    try {
      const audienceId = saved.value || (await api('/api/audiences', {
        method: 'POST', body: { name: `${name.value} audience ${Date.now()}`, definition: definition() },
      })).id;
      const campaign = await api('/api/campaigns', {
        method: 'POST',
        body: {
          name: name.value,
          audience_id: audienceId,
          template: { name: t.name, language: t.language },
          parameters: { body: mapping() },
          sender: sender.value === 'allocated' ? { mode: 'allocated' } : { mode: 'named', sender_ids: [sender.value] },
          rate_per_minute: Number(rate.value),
          send_window: { start: windowStart.value, end: windowEnd.value, weekdays: weekdaysOnly.checked ? [1, 2, 3, 4, 5] : [1, 2, 3, 4, 5, 6, 7] },
        },
      });
      const [preview, estimate] = await Promise.all([
        api(`/api/campaigns/${campaign.id}/preview`, { query: { limit: 3 } }),
        api(`/api/campaigns/${campaign.id}/estimate`),
      ]);
      replace(result, h('h3', {}, 'Draft saved'),
        h('p', { class: 'estimate' }, `Estimate: ${estimate.recipients} recipients, about ${Math.ceil(estimate.duration_seconds / 60)} min (limited by ${estimate.limited_by.replace('_', ' ')}), ${estimate.cost.toFixed(2)} ${estimate.currency}.`),
        table('Preview', [
          ['Contact', (p) => p.name || p.phone],
          ['Message', (p) => p.text || h('span', { class: 'hint' }, p.problem)],
        ], preview, 'The audience is empty.'),
        h('a', { href: `#/campaigns/${campaign.id}`, class: 'button' }, 'Open campaign'));
      toast('Campaign saved as a draft.');
      done();
    } catch (err) { showError(err, 'Not saved'); }
  }

  for (const el of [tag, consent, saved]) el.addEventListener('input', recount);
  template.addEventListener('change', renderParams);
  renderParams();
  recount();
  replace(section, h('h2', {}, 'New campaign'),
    h('form', { class: 'stack', onsubmit: create },
      field('Campaign name', name),
      h('fieldset', {}, h('legend', {}, 'Audience'), field('Saved audience', saved), field('Tag', tag),
        field('Marketing consent', consent), h('p', {}, 'Matches: ', count)),
      h('fieldset', {}, h('legend', {}, 'Message'), field('Template', template), params),
      h('fieldset', {}, h('legend', {}, 'Sending'), field('Sender', sender), warmupBudgets(warmups),
        field('Rate per minute', rate),
        field('Window opens (contact-local)', windowStart), field('Window closes', windowEnd),
        h('label', {}, weekdaysOnly, ' Weekdays only')),
      h('button', { type: 'submit', class: 'primary' }, 'Save draft')),
    result);
}

/** Each number's warm-up budget left today (every campaign through it obeys it). */
function warmupBudgets(warmups) {
  const ramps = warmups.filter((w) => w.state);
  return h('div', { class: 'warmups' }, h('h4', {}, t('campaigns.warmup.title')),
    ramps.length
      ? h('ul', {}, warmups.map((w) => h('li', { dataset: { sender: w.sender_id } }, w.state
        ? t('campaigns.warmup.left', { number: w.display_number, remaining: formatNumber(w.remaining), budget: formatNumber(w.budget), state: w.state })
        : t('campaigns.warmup.unlimited', { number: w.display_number }))))
      : h('p', { class: 'hint' }, t('campaigns.warmup.none')));
}

// ---- results ---------------------------------------------------------------------------------

function results(root, id) {
  const head = h('div', { class: 'toolbar' });
  const summary = h('section', { class: 'results-summary' });
  const chart = h('section', { class: 'results-timeline' });
  const recipients = h('section');
  page(root, 'Campaign results', head, summary, chart, recipients);
  let timer = null;

  async function act(action) {
    try {
      await api(`/api/campaigns/${id}/${action}`, { method: 'POST' });
      toast(`Campaign ${action === 'launch' ? 'launched' : `${action}d`}.`);
      load();
    } catch (err) { showError(err, 'Not done'); }
  }

  async function load() {
    try {
      const [campaign, res, rows, timeline] = await Promise.all([
        api(`/api/campaigns/${id}`), api(`/api/campaigns/${id}/results`),
        api(`/api/campaigns/${id}/recipients`, { query: { limit: 100 } }),
        api(`/api/campaigns/${id}/timeline`),
      ]);
      const can = auth.can('campaigns:launch');
      const actions = { draft: ['launch', 'cancel'], scheduled: ['pause', 'cancel'], running: ['pause', 'cancel'], paused: ['resume', 'cancel'] }[campaign.status] || [];
      replace(head, h('h2', {}, campaign.name), h('span', { class: `chip ${campaign.status}` }, campaign.status),
        campaign.pause_reason ? h('span', { class: 'hint pause-reason' }, campaign.pause_reason) : null,
        can ? actions.map((a) => button(a[0].toUpperCase() + a.slice(1), () => act(a))) : null,
        h('a', { href: `/api/campaigns/${id}/results.csv`, class: 'button', onclick: download }, 'Export CSV'));
      const total = STATES.reduce((n, s) => n + res.totals[s], 0) || 1;
      replace(summary,
        h('div', { class: 'bars', role: 'img', 'aria-label': 'Recipients per state' },
          STATES.map((s) => h('div', { class: `bar ${s}` },
            h('span', { class: 'bar-label' }, s),
            barFill(res.totals[s] / total),
            h('span', { class: 'bar-value' }, String(res.totals[s]))))),
        h('p', {}, `Delivered ${(100 * res.rates.delivered).toFixed(1)}% · read ${(100 * res.rates.read).toFixed(1)}% · replied ${(100 * res.rates.replied).toFixed(1)}% · failed ${(100 * res.rates.failed).toFixed(1)}% · cost ${res.cost.amount} ${res.cost.currency}`));
      replace(chart, timelineChart(timeline));
      replace(recipients, table('Recipients', [
        ['Contact', (r) => r.name || r.phone],
        ['Phone', (r) => h('span', { class: 'mono' }, r.phone)],
        ['State', (r) => h('span', { class: `chip ${r.state}` }, r.state)],
        ['Why', (r) => r.skip_rule || (r.error_code ? `Meta ${r.error_code}` : '')],
        ['Queued', (r) => fmtTime(r.queued_at)],
      ], rows.items.map((r) => ({ ...r, id: r.contact_id })), 'No recipients yet: launch the campaign.'));
    } catch (err) { showError(err, 'Campaign'); }
    clearTimeout(timer);
    if (root.isConnected) timer = setTimeout(load, REFRESH_MS);
  }

  async function download(e) { // the export needs the bearer token: fetch it, then save
    e.preventDefault();
    try {
      const res = await fetch(`/api/campaigns/${id}/results.csv`, { headers: { Authorization: `Bearer ${auth.access}` } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      const link = h('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })), download: `campaign-${id}.csv` });
      link.click();
    } catch (err) { showError(err, 'Export'); }
  }

  load();
  return { permissionsChanged: load };
}

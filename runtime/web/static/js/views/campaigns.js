// Campaigns: the list with live progress, the builder (audience count, preview per recipient,
// estimate, each number's warm-up budget today), and one campaign's results (totals, rates,
// the chart over time, recipients, CSV export).
import { all, api } from '../api.js';
import { auth } from '../auth.js';
import { button, debounce, field, fmtTime, h, replace, showError, toast } from '../dom.js';
import { formatNumber, known, t } from '../i18n.js';
import { page, table } from './admin-lib.js';
import { timelineChart } from './campaign-chart.js';
import { placeInputs, placeShown } from './place-inputs.js';
import { buttonNeeds, componentText, hasLocationHeader, mediaHeaderFormat, placeholderNames, templateButtons } from './templates-lib.js';

const REFRESH_MS = 3000;
const STATES = ['pending', 'queued', 'sent', 'delivered', 'read', 'replied', 'failed', 'skipped'];
const SOURCES = ['name', 'phone', 'email', 'attributes.', 'text'];
const BUTTON_PARAMETERS = ['url', 'coupon', 'otp', 'payload'];
const ATTRIBUTE_KEY = /^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$/; // as the API takes it
const TEXT_MAX = 1000; // a fixed text or a fallback, as the API takes it
const percent = (share) => formatNumber(share, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });
const statusChip = (status) => h('span', { class: `chip ${status}` }, t(`campaigns.status.${status}`));
const stateChip = (state) => h('span', { class: `chip ${state}` }, t(`campaigns.state.${state}`));

// A recipient the preview could not render: `<code>:<what>` from the API, in words.
function problemText(problem) {
  const [code, what] = String(problem).split(':');
  const key = `campaigns.problem.${code}`;
  return known(key) ? t(key, { what }) : problem;
}

export function mount(root, args = []) {
  return args[0] ? results(root, args[0]) : list(root);
}

function progress(totals) {
  const total = STATES.reduce((n, s) => n + (totals[s] || 0), 0);
  const done = total - (totals.pending || 0);
  return h('div', { class: 'progress-cell' },
    h('progress', { max: String(total || 1), value: String(done), 'aria-label': t('campaigns.handed_on') }),
    h('span', { class: 'hint' }, `${formatNumber(done)} / ${formatNumber(total)}`));
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
  page(root, t('shell.section.campaigns'), tools, body, builder);
  let timer = null;

  async function load() {
    replace(tools, auth.can('campaigns:write')
      ? button(t('campaigns.new'), () => build(builder, load), { class: 'primary' }) : null);
    try {
      const campaigns = await api('/api/campaigns', { query: { limit: 50 } });
      replace(body, table(t('shell.section.campaigns'), [
        [t('campaigns.name'), (c) => h('a', { href: `#/campaigns/${c.id}` }, c.name)],
        [t('campaigns.status'), (c) => statusChip(c.status)],
        [t('campaigns.progress'), (c) => progress(c.totals)],
        [t('campaigns.template'), (c) => h('code', {}, c.template.name)],
        [t('campaigns.rate'), (c) => t('campaigns.per_minute', { n: formatNumber(c.rate_per_minute) }), 'num'],
        [t('campaigns.created'), (c) => fmtTime(c.created_at)],
      ], campaigns.items, t('campaigns.none')));
    } catch (err) { showError(err, t('shell.section.campaigns')); }
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
  ]).catch((err) => { showError(err, t('campaigns.builder')); return [[], [], [], []]; });
  const approved = (Array.isArray(templates) ? templates : templates.items).filter((tpl) => tpl.status === 'APPROVED');
  const numbers = Array.isArray(senders) ? senders : senders.items;

  const name = h('input', { required: true, maxlength: '200' });
  const tag = h('input', { placeholder: t('campaigns.tag_placeholder') });
  const consent = h('select', {}, h('option', { value: '' }, t('campaigns.any')),
    ['opted_in', 'unknown', 'opted_out'].map((s) => h('option', { value: s }, t(`campaigns.consent.${s}`))));
  const saved = h('select', {}, h('option', { value: '' }, t('campaigns.new_audience')),
    audiences.map((a) => h('option', { value: a.id }, a.name)));
  const count = h('output', { class: 'audience-count', 'aria-live': 'polite' }, '—');
  const template = h('select', {}, approved.map((tpl, i) => h('option', { value: String(i) }, `${tpl.name} (${tpl.language}, ${tpl.category})`)));
  const headerBox = h('div');
  const params = h('div', { class: 'params' });
  let header = null; // the media or location header's inputs, when the template has one
  let rows = []; // a source row per text parameter (header, body) and button parameter
  const sender = h('select', {}, h('option', { value: 'allocated' }, t('campaigns.allocated_number')),
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
      count.value = t('campaigns.n_contacts', { n: formatNumber(r.count) });
    } catch (err) { count.value = err.message; }
  }, 300);

  function buttonRows(chosen) {
    return templateButtons(chosen).map((b, index) => {
      const needs = buttonNeeds(b);
      if (!BUTTON_PARAMETERS.includes(needs)) return null;
      const label = t(b.text ? 'campaigns.button_named' : 'campaigns.button_plain', { index, text: b.text || '' });
      return needs === 'payload' // optional: Meta sends none when none is given
        ? sourceRow(t('campaigns.payload_of', { button: label }), 'buttons', index, { optional: true })
        : sourceRow(label, 'buttons', index);
    }).filter(Boolean);
  }

  function renderParams() {
    const chosen = approved[Number(template.value)];
    const format = chosen ? mediaHeaderFormat(chosen) : null;
    header = format ? headerMediaInputs(format.toLowerCase())
      : chosen && hasLocationHeader(chosen) ? placeInputs() : null;
    const headerText = chosen && !format ? componentText(chosen, 'HEADER') : '';
    const headerRows = placeholderNames(headerText).map((p) => sourceRow(t('campaigns.header_parameter', { p: `{{${p}}}` }), 'header'));
    const bodyRows = placeholderNames(chosen ? componentText(chosen, 'BODY') : '').map((p) => sourceRow(`{{${p}}}`, 'body'));
    rows = [...headerRows, ...bodyRows, ...(chosen ? buttonRows(chosen) : [])];
    replace(headerBox, header ? header.box : null, headerRows.length
      ? h('fieldset', { class: 'header-text' }, h('legend', {}, t('campaigns.header.text_title', { text: headerText })), headerRows.map((r) => r.box))
      : null);
    replace(params, rows.filter((r) => r.component !== 'header').map((r) => r.box));
  }

  function parameters() {
    const of = (component) => rows.filter((r) => r.component === component);
    const headerParameters = header ? [header.parameter()] : of('header').map((r) => r.source());
    const buttons = of('buttons').filter((r) => r.source()).map((r) => ({ index: r.index, ...r.source() }));
    return {
      ...(headerParameters.length ? { header: headerParameters } : {}),
      body: of('body').map((r) => r.source()),
      ...(buttons.length ? { buttons } : {}),
    };
  }

  /** Every input checked (each shows its own problem); whether the form may be saved. */
  function checked() {
    return [header?.check() ?? true, ...rows.map((r) => r.check())].every(Boolean);
  }

  async function create(e) {
    e.preventDefault();
    const chosen = approved[Number(template.value)];
    if (!checked()) return;
    try {
      const audienceId = saved.value || (await api('/api/audiences', {
        method: 'POST', body: { name: `${name.value} audience ${Date.now()}`, definition: definition() },
      })).id;
      const campaign = await api('/api/campaigns', {
        method: 'POST',
        body: {
          name: name.value,
          audience_id: audienceId,
          template: { name: chosen.name, language: chosen.language },
          parameters: parameters(),
          sender: sender.value === 'allocated' ? { mode: 'allocated' } : { mode: 'named', sender_ids: [sender.value] },
          rate_per_minute: Number(rate.value),
          send_window: { start: windowStart.value, end: windowEnd.value, weekdays: weekdaysOnly.checked ? [1, 2, 3, 4, 5] : [1, 2, 3, 4, 5, 6, 7] },
        },
      });
      const [preview, estimate] = await Promise.all([
        api(`/api/campaigns/${campaign.id}/preview`, { query: { limit: 3 } }),
        api(`/api/campaigns/${campaign.id}/estimate`),
      ]);
      replace(result, h('h3', {}, t('campaigns.draft_saved')),
        h('p', { class: 'estimate' }, t('campaigns.estimate', {
          recipients: formatNumber(estimate.recipients),
          minutes: formatNumber(Math.ceil(estimate.duration_seconds / 60)),
          limit: t(`campaigns.limited_by.${estimate.limited_by}`),
          cost: formatNumber(estimate.cost, { style: 'currency', currency: estimate.currency }),
        })),
        table(t('campaigns.preview'), [
          [t('campaigns.contact'), (p) => p.name || p.phone],
          ...(preview.some((p) => p.header || p.header_text) ? [[t('campaigns.header.column'), headerPreview]] : []),
          [t('campaigns.message'), (p) => p.body_text || p.text || h('span', { class: 'hint' }, problemText(p.problem))],
        ], preview, t('campaigns.audience_empty')),
        h('a', { href: `#/campaigns/${campaign.id}`, class: 'button' }, t('campaigns.open')));
      toast(t('campaigns.saved_draft'));
      done();
    } catch (err) { showError(err, t('common.not_saved')); }
  }

  for (const el of [tag, consent, saved]) el.addEventListener('input', recount);
  template.addEventListener('change', renderParams);
  renderParams();
  recount();
  replace(section, h('h2', {}, t('campaigns.new')),
    h('form', { class: 'stack', onsubmit: create },
      field(t('campaigns.campaign_name'), name),
      h('fieldset', {}, h('legend', {}, t('campaigns.audience')), field(t('campaigns.saved_audience'), saved), field(t('campaigns.tag'), tag),
        field(t('campaigns.marketing_consent'), consent), h('p', {}, t('campaigns.matches'), ' ', count)),
      h('fieldset', {}, h('legend', {}, t('campaigns.message')), field(t('campaigns.template'), template), headerBox, params),
      h('fieldset', {}, h('legend', {}, t('campaigns.sending')), field(t('campaigns.sender'), sender), warmupBudgets(warmups),
        field(t('campaigns.rate_per_minute'), rate),
        field(t('campaigns.window_opens'), windowStart), field(t('campaigns.window_closes'), windowEnd),
        h('label', {}, weekdaysOnly, ' ', t('campaigns.weekdays_only'))),
      h('button', { type: 'submit', class: 'primary' }, t('campaigns.save_draft'))),
    result);
}

/** A parameter's source inputs: a contact field (an attribute by its key) with a fallback, or a
 *  fixed text, or (``optional``) nothing; ``p`` names the parameter in the labels and messages,
 *  ``component``/``index`` tell where it goes. ``check()`` shows what is wrong under the
 *  inputs and says whether it may be sent; ``source()`` is the API's parameter source. */
function sourceRow(p, component, index = null, { optional = false } = {}) {
  const choices = optional ? ['none', ...SOURCES] : SOURCES;
  const source = h('select', {}, choices.map((v) => h('option', { value: v }, t(`campaigns.source.${v}`))));
  const key = h('input', { placeholder: t('campaigns.attribute_placeholder') });
  const fallback = h('input', { placeholder: t('campaigns.fallback_placeholder') });
  const problem = h('p', { class: 'field-error', role: 'alert', hidden: true });

  function fault() { // [the input at fault, its message] or null
    const given = key.value.trim();
    if (source.value === 'attributes.' && !given) return [key, t('campaigns.check.key_missing', { p })];
    if (source.value === 'attributes.' && !ATTRIBUTE_KEY.test(given)) return [key, t('campaigns.check.key_invalid', { p })];
    if (source.value === 'text' && !given) return [key, t('campaigns.check.text_missing', { p })];
    if (source.value === 'text' && given.length > TEXT_MAX) return [key, t('campaigns.check.text_too_long', { p, max: TEXT_MAX })];
    if (fallback.value.trim().length > TEXT_MAX) return [fallback, t('campaigns.check.fallback_too_long', { p, max: TEXT_MAX })];
    return null;
  }

  function check() {
    const [at, message] = fault() || [null, ''];
    problem.hidden = !at;
    problem.textContent = message;
    for (const input of [key, fallback]) input.setAttribute('aria-invalid', String(input === at));
    return !at;
  }

  function value() {
    const given = key.value.trim();
    const other = fallback.value.trim();
    if (source.value === 'none') return null;
    if (source.value === 'text') return { text: given };
    return { field: source.value === 'attributes.' ? `attributes.${given}` : source.value, ...(other ? { fallback: other } : {}) };
  }

  for (const el of [source, key, fallback]) el.addEventListener('input', () => { if (!problem.hidden) check(); });
  return {
    component,
    index,
    box: h('div', { class: 'param', dataset: { component } },
      field(t('campaigns.parameter', { p }), source),
      field(t('campaigns.attribute_key', { p }), key),
      field(t('campaigns.fallback', { p }), fallback), problem),
    check,
    source: value,
  };
}

/** The media of an image/video/document header, the same for every recipient: an https link
 *  or the id of media uploaded to WhatsApp (Meta takes either), and a document's file name.
 *  ``check()`` shows what is wrong under the inputs and says whether it may be sent. */
function headerMediaInputs(kind) {
  const what = t(`campaigns.header.kind.${kind}`);
  const by = h('select', {}, ['link', 'id'].map((v) => h('option', { value: v }, t(`campaigns.header.by.${v}`))));
  const value = h('input', { maxlength: '2000', placeholder: 'https://…' });
  const filename = kind === 'document' ? h('input', { maxlength: '240' }) : null;
  const problem = h('p', { class: 'field-error', role: 'alert', hidden: true });
  by.addEventListener('change', () => { value.placeholder = by.value === 'link' ? 'https://…' : ''; });

  function check() {
    const given = value.value.trim();
    let message = null;
    if (!given) message = t('campaigns.header.required', { what });
    else if (by.value === 'link' && !/^https:\/\/\S+$/.test(given)) message = t('campaigns.header.https', { what });
    else if (by.value === 'id' && /\s/.test(given)) message = t('campaigns.header.bad_id');
    problem.hidden = !message;
    problem.textContent = message || '';
    value.setAttribute('aria-invalid', String(Boolean(message)));
    return !message;
  }

  value.addEventListener('input', () => { if (!problem.hidden) check(); });
  return {
    box: h('fieldset', { class: 'header-media' }, h('legend', {}, t('campaigns.header.title', { what })),
      field(t('campaigns.header.source', { what }), by), field(t('campaigns.header.value', { what }), value),
      filename ? field(t('campaigns.header.filename'), filename) : null, problem),
    check,
    parameter: () => ({ type: kind, [by.value]: value.value.trim(), ...(filename?.value.trim() ? { filename: filename.value.trim() } : {}) }),
  };
}

/** The header a recipient sees, in the preview: its text, its media or its place. */
function headerPreview({ header_text: text, header: media }) {
  if (text) return h('span', { class: 'header-preview', dataset: { type: 'text' } }, text);
  if (!media) return '';
  if (media.type === 'location') return placeShown(media);
  const what = t(`campaigns.header.kind.${media.type}`);
  return h('span', { class: 'header-preview', dataset: { type: media.type } }, t('campaigns.header.shown', { what }), ' ',
    media.link
      ? h('a', { href: media.link, target: '_blank', rel: 'noopener noreferrer' }, media.filename || media.link)
      : h('code', {}, t('campaigns.header.media_id', { id: media.id })),
    media.link || !media.filename ? null : ` (${media.filename})`);
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
  page(root, t('campaigns.results'), head, summary, chart, recipients);
  let timer = null;

  async function act(action) {
    try {
      await api(`/api/campaigns/${id}/${action}`, { method: 'POST' });
      toast(t(`campaigns.done.${action}`));
      load();
    } catch (err) { showError(err, t('campaigns.not_done')); }
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
      replace(head, h('h2', {}, campaign.name), statusChip(campaign.status),
        campaign.pause_reason ? h('span', { class: 'hint pause-reason' }, campaign.pause_reason) : null,
        can ? actions.map((a) => button(t(`campaigns.action.${a}`), () => act(a))) : null,
        h('a', { href: `/api/campaigns/${id}/results.csv`, class: 'button', onclick: download }, t('campaigns.export')));
      const total = STATES.reduce((n, s) => n + res.totals[s], 0) || 1;
      replace(summary,
        h('div', { class: 'bars', role: 'img', 'aria-label': t('campaigns.per_state') },
          STATES.map((s) => h('div', { class: `bar ${s}` },
            h('span', { class: 'bar-label' }, t(`campaigns.state.${s}`)),
            barFill(res.totals[s] / total),
            h('span', { class: 'bar-value' }, formatNumber(res.totals[s]))))),
        h('p', {}, t('campaigns.rates', {
          delivered: percent(res.rates.delivered),
          read: percent(res.rates.read),
          replied: percent(res.rates.replied),
          failed: percent(res.rates.failed),
          cost: formatNumber(Number(res.cost.amount), { style: 'currency', currency: res.cost.currency }),
        })));
      replace(chart, timelineChart(timeline));
      replace(recipients, table(t('campaigns.recipients'), [
        [t('campaigns.contact'), (r) => r.name || r.phone],
        [t('campaigns.phone'), (r) => h('span', { class: 'mono' }, r.phone)],
        [t('campaigns.state'), (r) => stateChip(r.state)],
        [t('campaigns.why'), (r) => r.skip_rule || (r.error_code ? `Meta ${r.error_code}` : '')],
        [t('campaigns.queued'), (r) => fmtTime(r.queued_at)],
      ], rows.items.map((r) => ({ ...r, id: r.contact_id })), t('campaigns.no_recipients')));
    } catch (err) { showError(err, t('campaigns.campaign')); }
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
    } catch (err) { showError(err, t('campaigns.export_failed')); }
  }

  load();
  return { permissionsChanged: load };
}

// Rich messages in the inbox: how interactive replies, locations, contact cards, orders,
// Flow replies, quotes and reactions look in a bubble; the reply/react actions; the
// Click-to-WhatsApp ad banner; and the composer's reply buttons / list builder and template
// media/place/button parameters. inbox.js calls these at a few hook points.
import { api } from '../api.js';
import { button, field, h, replace, showError } from '../dom.js';
import { t } from '../i18n.js';
import { mapLink, placeInputs, placeShown } from './place-inputs.js';
import { buttonNeeds, hasLocationHeader, templateButtons, mediaHeaderFormat } from './templates-lib.js';

export const REACTIONS = ['👍', '❤️', '😂', '😮', '🙏'];

/** A message that shows on another message (a reaction), never as a bubble of its own. */
export function hiddenInList(m) {
  return m.type === 'reaction';
}

function location(loc) {
  return h('div', { class: 'rich location' },
    h('p', {}, h('span', { 'aria-hidden': 'true' }, '📍 '), h('strong', {}, loc.name || t('rich.location'))),
    loc.address ? h('p', { class: 'hint' }, loc.address) : null,
    h('p', { class: 'coords' }, `${loc.latitude}, ${loc.longitude}`),
    h('a', { href: mapLink(loc.latitude, loc.longitude), target: '_blank', rel: 'noopener noreferrer' }, t('rich.openMap')));
}

function contactCards(cards) {
  return h('ul', { class: 'rich contacts' }, cards.map((card) => h('li', {},
    h('strong', {}, card.name?.formatted_name || t('rich.contact')),
    h('ul', {}, (card.phones || []).map((p) => h('li', {},
      h('a', { href: `tel:${String(p.phone || '').replace(/[^\d+]/g, '')}` }, p.phone),
      p.type ? ` (${p.type})` : ''))))));
}

function order(o) {
  const items = o.product_items || [];
  return h('div', { class: 'rich order' },
    h('p', {}, h('span', { 'aria-hidden': 'true' }, '🛒 '), h('strong', {}, t('rich.order', { count: items.length }))),
    o.text ? h('p', {}, o.text) : null,
    h('table', {}, h('tbody', {}, items.map((item) => h('tr', {},
      h('td', {}, item.product_retailer_id),
      h('td', {}, `× ${item.quantity}`),
      h('td', {}, `${item.item_price} ${item.currency || ''}`))))));
}

function flowReply(reply) {
  let fields = {};
  try { fields = JSON.parse(reply.response_json || '{}'); } catch { fields = {}; }
  return h('div', { class: 'rich flow' },
    h('p', {}, h('strong', {}, t('rich.flowReply')), reply.body ? ` — ${reply.body}` : ''),
    h('dl', { class: 'attrs' }, Object.entries(fields).filter(([k]) => k !== 'flow_token').map(([k, v]) => [
      h('dt', {}, k), h('dd', {}, typeof v === 'string' ? v : JSON.stringify(v))])));
}

function choice(title, id) {
  return h('p', { class: 'rich choice' }, h('span', { class: 'label' }, t('rich.chose')), ' ',
    h('strong', {}, title), id ? h('small', { class: 'hint' }, ` (${id})`) : null);
}

function outboundInteractive(i) {
  const buttons = i.action?.buttons || [];
  const rows = (i.action?.sections || []).flatMap((s) => s.rows || []);
  return h('div', { class: 'rich interactive' },
    i.header?.text ? h('p', {}, h('strong', {}, i.header.text)) : null,
    h('p', { class: 'text' }, i.body?.text || ''),
    i.footer?.text ? h('small', { class: 'hint' }, i.footer.text) : null,
    buttons.length ? h('ul', { class: 'choices' }, buttons.map((b) => h('li', {}, b.reply?.title))) : null,
    rows.length ? h('details', {}, h('summary', {}, i.action.button || t('rich.list')),
      h('ul', { class: 'choices' }, rows.map((r) => h('li', {}, r.title, r.description ? h('small', { class: 'hint' }, ` — ${r.description}`) : null)))) : null);
}

function interactive(m) {
  const i = m.payload?.interactive || {};
  if (i.type === 'button_reply') return choice(i.button_reply?.title, i.button_reply?.id);
  if (i.type === 'list_reply') return choice(i.list_reply?.title, i.list_reply?.id);
  if (i.type === 'nfm_reply') return flowReply(i.nfm_reply || {});
  if (m.direction === 'outbound') return outboundInteractive(i);
  return null;
}

/** The body of a rich message, or null for inbox.js's own rendering. */
export function richContent(m) {
  const p = m.payload || {};
  if (m.type === 'location' && p.location) return location(p.location);
  if (m.type === 'contacts' && Array.isArray(p.contacts)) return contactCards(p.contacts);
  if (m.type === 'order' && p.order) return order(p.order);
  if (m.type === 'interactive') return interactive(m);
  if (m.type === 'button' && p.button) return choice(p.button.text, p.button.payload);
  return null;
}

/** The quoted message above a reply, found in the reply itself or among loaded messages. */
export function quote(m, messages) {
  const to = m.reply_to;
  if (!to) return null;
  const found = to.body !== undefined ? to : [...messages.values()].find((x) => x.wamid === to.wamid);
  return h('blockquote', { class: 'quote', dataset: { wamid: to.wamid || '' } },
    found ? h('small', {}, found.direction === 'outbound' ? t('rich.you') : t('rich.customer')) : null,
    h('p', {}, found ? (found.body || `[${found.type}]`) : t('rich.quoteUnavailable')));
}

/** Reactions shown on their message: the customer's and ours, or WhatsApp's refusal of ours. */
export function reactionBadges(m) {
  const entries = Object.entries(m.reactions || {});
  const refused = m.reaction_refused;
  if (!entries.length && !refused) return null;
  return h('p', { class: 'reactions', 'aria-label': t('rich.reactions') }, entries.map(([side, emoji]) =>
    h('span', { class: `reaction ${side}`, title: side === 'customer' ? t('rich.customerReacted') : t('rich.weReacted'), dataset: { side } }, emoji)),
  refused ? refusedReaction(refused) : null);
}

/** Our reaction WhatsApp refused for good, struck through, with Meta's reason. */
function refusedReaction(refused) {
  const reason = [refused.error_message, refused.error_code ? `#${refused.error_code}` : null].filter(Boolean).join(' ');
  return h('span', { class: 'reaction refused', role: 'status' },
    refused.emoji ? h('s', {}, refused.emoji) : null, ' ',
    t(refused.emoji ? 'rich.reactionRefused' : 'rich.unreactRefused', { reason: reason || t('rich.noReason') }));
}

/** Reply and react actions on a message WhatsApp knows (it has a wamid). */
export function messageActions(m, { onReply, onReact, canSend }) {
  if (!canSend || !m.wamid || m.type === 'reaction') return null;
  const ours = (m.reactions || {}).business;
  const picker = h('span', { class: 'react-picker', hidden: true },
    REACTIONS.map((emoji) => button(emoji, () => onReact(m, emoji === ours ? '' : emoji), {
      class: `link emoji${emoji === ours ? ' chosen' : ''}`, 'aria-label': t('rich.reactWith', { emoji }),
    })));
  return h('div', { class: 'msg-actions' },
    button(t('rich.reply'), () => onReply(m), { class: 'link' }),
    button(t('rich.react'), () => { picker.hidden = !picker.hidden; }, { class: 'link', 'aria-expanded': 'false' }),
    picker);
}

/** The Click-to-WhatsApp ad the customer came from, for the chat header. */
export function referralNote(c) {
  const r = c.referral;
  if (!r) return null;
  return h('p', { class: 'referral', role: 'note' },
    h('span', { class: 'chip' }, t('rich.fromAd')), ' ',
    h('strong', {}, r.headline || r.source_id || ''), r.body ? ` — ${r.body}` : '', ' ',
    r.source_url ? h('a', { href: r.source_url, target: '_blank', rel: 'noopener noreferrer' }, t('rich.openAd')) : null);
}

/** The "replying to" chip above the composer. */
export function replyingTo(m, onCancel) {
  if (!m) return null;
  return h('div', { class: 'replying', role: 'status' },
    h('span', {}, t('rich.replyingTo')), ' ', h('q', {}, (m.body || `[${m.type}]`).slice(0, 80)), ' ',
    button(t('rich.cancelReply'), onCancel, { class: 'link' }));
}

/** Send a reaction (an empty emoji removes ours). */
export async function react(conversationId, m, emoji) {
  try {
    await api(`/api/conversations/${conversationId}/messages`, {
      method: 'POST', body: { type: 'reaction', reaction: { message_id: m.id, emoji } },
    });
  } catch (err) { showError(err, t('rich.reactFailed')); }
}

// ---------- composer: reply buttons and lists ----------

function optionInputs(count, maxTitle) {
  return Array.from({ length: count }, (_, i) => h('input', {
    type: 'text', maxlength: String(maxTitle), dataset: { option: String(i) }, 'aria-label': t('rich.option', { n: i + 1 }),
  }));
}

/** The composer's link to the buttons/list form. */
export function interactiveToggle(onClick) {
  return button(t('rich.openInteractive'), onClick, { class: 'link' });
}

/** A form that sends reply buttons (≤ 3) or a list (≤ 10 rows); Meta's limits are checked
 *  by the server too (422 interactive_invalid), whose message is shown as is. */
export function interactiveForm(conversationId, { replyTo, onSent, onClose }) {
  const kind = h('select', {}, h('option', { value: 'button' }, t('rich.buttons')), h('option', { value: 'list' }, t('rich.list')));
  const body = h('textarea', { rows: 2, maxlength: '1024', required: true });
  const label = h('input', { type: 'text', maxlength: '20', value: t('rich.options') });
  const options = h('div', { class: 'options' });
  const labelField = field(t('rich.listButton'), label);
  let inputs = [];
  function draw() {
    const list = kind.value === 'list';
    inputs = optionInputs(list ? 10 : 3, list ? 24 : 20);
    labelField.hidden = !list;
    replace(options, h('p', { class: 'hint' }, list ? t('rich.rowsHint') : t('rich.buttonsHint')), inputs);
  }
  kind.addEventListener('change', draw);
  const form = h('form', {
    class: 'compose-interactive', 'aria-label': t('rich.interactiveForm'),
    onsubmit: async (e) => {
      e.preventDefault();
      const titles = inputs.map((i) => i.value.trim()).filter(Boolean);
      const choices = titles.map((title, i) => ({ id: `opt-${i + 1}`, title }));
      const spec = kind.value === 'list'
        ? { type: 'list', body: body.value, button: label.value, sections: [{ rows: choices }] }
        : { type: 'button', body: body.value, buttons: choices };
      try {
        const m = await api(`/api/conversations/${conversationId}/messages`, {
          method: 'POST', body: { type: 'interactive', interactive: spec, reply_to_message_id: replyTo?.id },
        });
        onSent(m);
      } catch (err) { showError(err, t('rich.notSent')); }
    },
  },
  field(t('rich.kind'), kind), field(t('rich.message'), body), labelField, options,
  h('div', { class: 'row' }, button(t('rich.backToText'), onClose, { class: 'link' }),
    h('button', { type: 'submit', class: 'primary' }, t('rich.send'))));
  draw();
  return form;
}

// ---------- composer: template media or place header and button parameters ----------

/** Inputs for a template's media or place header and button parameters; ``check()`` says
 *  whether they may be sent (showing what is wrong), ``collect`` puts them into the send's
 *  `parameters` (header, buttons), ``header()`` is the place for the preview once it is
 *  valid; ``onChange`` is called as the place is typed. */
export function templateExtras(template, onChange = () => {}) {
  const format = mediaHeaderFormat(template);
  const rows = [];
  let media = null;
  if (format) {
    media = h('input', { type: 'url', required: true, placeholder: 'https://…', dataset: { header: format.toLowerCase() } });
    rows.push(field(t('rich.headerMedia', { format: format.toLowerCase() }), media));
  }
  const place = hasLocationHeader(template) ? placeInputs() : null;
  if (place) {
    rows.push(place.box);
    place.box.addEventListener('input', onChange);
  }
  const buttons = templateButtons(template);
  const buttonInputs = [];
  buttons.forEach((b, index) => {
    const needs = buttonNeeds(b);
    if (!needs) return;
    const input = h('input', { type: 'text', required: needs !== 'payload', maxlength: needs === 'url' ? '2000' : '15', dataset: { button: String(index) } });
    buttonInputs.push([index, input]);
    rows.push(field(t(`rich.button.${needs}`, { text: b.text || '', index }), input));
  });
  return {
    rows,
    check: () => place?.check() ?? true,
    header: () => (place?.valid() ? placeShown(place.parameter()) : null),
    collect(parameters) {
      if (media) parameters.header = [{ type: format.toLowerCase(), link: media.value.trim() }];
      if (place) parameters.header = [place.parameter()];
      const given = buttonInputs.filter(([, input]) => input.value.trim())
        .map(([index, input]) => ({ index, value: input.value.trim() }));
      if (given.length) parameters.buttons = given;
      return parameters;
    },
  };
}

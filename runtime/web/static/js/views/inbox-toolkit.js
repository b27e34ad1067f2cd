// The agent toolkit inside the inbox: internal notes with @mentions, /shortcut canned
// responses, Meta's typing indicator while the agent types, and conversation labels.
import { api } from '../api.js';
import { button, fmtTime, h, replace, showError, toast } from '../dom.js';
import { t } from '../i18n.js';

const SHORTCUT = /^\/([a-z0-9][a-z0-9_-]{0,31})$/;
const MENTION = /(^|\s)@([^\s@]*)$/;
// Meta shows "typing…" for up to 25 s: asking again after 20 s keeps it up (the server
// throttles too; this only spares requests).
const TYPING_EVERY_MS = 20000;

/** A note in the thread: the team's, never sent; shown apart from customer messages. */
export function noteItem(m, authorName) {
  return h('li', { class: 'msg note', dataset: { id: m.id, status: 'note' } },
    h('div', { class: 'bubble', role: 'note', 'aria-label': t('toolkit.note') },
      h('p', { class: 'note-head' }, t('toolkit.note_by', { name: authorName(m.sent_by_agent_id) })),
      h('p', { class: 'text' }, m.body),
      h('div', { class: 'meta' }, h('time', { datetime: m.created_at }, fmtTime(m.created_at)))));
}

/** Coloured chips of a conversation's labels. */
export function labelChips(labelIds, labels) {
  const known = (labelIds || []).map((id) => labels.get(id)).filter(Boolean);
  if (!known.length) return null;
  return h('span', { class: 'label-chips' }, known.map((label) => labelChip(label)));
}

function labelChip(label, onRemove) {
  const chip = h('span', { class: 'label-chip', dataset: { labelId: label.id } },
    h('span', { class: 'swatch', 'aria-hidden': 'true' }), label.name,
    onRemove ? button('×', onRemove, { class: 'link', 'aria-label': t('toolkit.remove_label', { name: label.name }) }) : null);
  chip.querySelector('.swatch').style.background = label.colour; // the CSP refuses inline styles
  return chip;
}

/** The inbox filter by label. */
export function labelFilter(labels, current, onChange) {
  const select = h('select', { onchange: () => onChange(select.value) },
    h('option', { value: '' }, t('toolkit.any_label')),
    [...labels.values()].map((label) => h('option', { value: label.id, selected: label.id === current }, label.name)));
  return select;
}

/** The labels of the open conversation, with add and remove (agents who may send). */
export function labelEditor(conv, labels, onChanged) {
  const set = async (labelId, present) => {
    try {
      const result = await api(`/api/conversations/${conv.id}/labels/${labelId}`, { method: present ? 'PUT' : 'DELETE' });
      onChanged(result.label_ids);
    } catch (err) { showError(err, t('toolkit.labels_not_changed')); }
  };
  const current = (conv.label_ids || []).map((id) => labels.get(id)).filter(Boolean);
  const addable = [...labels.values()].filter((label) => !(conv.label_ids || []).includes(label.id));
  const add = h('select', { 'aria-label': t('toolkit.add_label'), onchange: () => { if (add.value) set(add.value, true); } },
    h('option', { value: '' }, t('toolkit.add_label_menu')),
    addable.map((label) => h('option', { value: label.id }, label.name)));
  return h('div', { class: 'label-editor', 'aria-label': t('toolkit.labels') },
    current.map((label) => labelChip(label, () => set(label.id, false))),
    addable.length ? add : null);
}

/**
 * The composer's toolkit: a reply / note switch, `/shortcut` expansion, `@mentions` in notes
 * and the typing indicator. `attach(textarea)` wires a textarea; `isNote()` and
 * `mentionIds()` tell the submit handler what to send.
 */
export function composerTools(conversationId, { canTypeToCustomer, replyAllowed = true }) {
  let mode = replyAllowed ? 'reply' : 'note'; // outside the window only notes are free text
  let textarea = null;
  let canned = null;
  let agents = null;
  const mentioned = new Map(); // name → id
  let lastTyping = 0;
  const suggestions = h('ul', { class: 'suggestions', role: 'listbox', hidden: true, 'aria-label': t('toolkit.suggestions') });

  const modes = h('div', { class: 'compose-mode', role: 'radiogroup', 'aria-label': t('toolkit.compose_mode') },
    ['reply', 'note'].map((value) => h('label', {},
      h('input', {
        type: 'radio', name: `mode-${conversationId}`, value, checked: value === mode,
        disabled: value === 'reply' && !replyAllowed,
        onchange: () => { mode = value; refreshMode(); },
      }), t(`toolkit.mode.${value}`))));

  function refreshMode() {
    if (!textarea) return;
    textarea.closest('form')?.classList.toggle('note-mode', mode === 'note');
    textarea.placeholder = mode === 'note' ? t('toolkit.note_placeholder') : t('inbox.reply_placeholder');
    hideSuggestions();
  }

  function hideSuggestions() { suggestions.hidden = true; replace(suggestions); }

  function showSuggestions(items, choose) {
    if (!items.length) return hideSuggestions();
    replace(suggestions, items.map(([label, hint, value]) => h('li', { role: 'option' },
      button(label, () => choose(value), { class: 'link suggestion' }), hint ? h('span', { class: 'hint' }, hint) : null)));
    suggestions.hidden = false;
  }

  async function cannedList() {
    if (canned === null) canned = await api('/api/canned-responses').catch(() => []);
    return canned;
  }

  async function mentionable() {
    if (agents === null) agents = await api('/api/mentionable-agents').catch(() => []);
    return agents;
  }

  async function expand(shortcut) {
    try {
      const result = await api(`/api/conversations/${conversationId}/canned/${shortcut}`);
      textarea.value = result.text;
      textarea.dispatchEvent(new Event('input'));
      hideSuggestions();
      textarea.focus();
    } catch (err) { showError(err, t('toolkit.canned_not_found', { shortcut })); }
  }

  function mention(agent) {
    textarea.value = textarea.value.replace(MENTION, (whole, space) => `${space}@${agent.name} `);
    mentioned.set(agent.name, agent.id);
    hideSuggestions();
    textarea.focus();
  }

  async function onInput() {
    const value = textarea.value;
    const shortcut = SHORTCUT.exec(value.trim());
    if (value.startsWith('/')) {
      const typed = shortcut ? shortcut[1] : value.slice(1);
      const matches = (await cannedList()).filter((c) => c.shortcut.startsWith(typed));
      showSuggestions(matches.map((c) => [`/${c.shortcut}`, c.body.slice(0, 60), c.shortcut]), expand);
    } else if (mode === 'note' && MENTION.test(value)) {
      const typed = MENTION.exec(value)[2].toLowerCase();
      const matches = (await mentionable()).filter((a) => a.name.toLowerCase().startsWith(typed));
      showSuggestions(matches.map((a) => [`@${a.name}`, '', a]), mention);
    } else hideSuggestions();
    if (mode === 'reply' && canTypeToCustomer() && value.trim() && !value.startsWith('/')) indicateTyping();
  }

  function indicateTyping() {
    const now = Date.now();
    if (now - lastTyping < TYPING_EVERY_MS) return;
    lastTyping = now;
    api(`/api/conversations/${conversationId}/typing`, { method: 'POST' }).catch(() => {});
  }

  return {
    modes,
    suggestions,
    attach(element) {
      textarea = element;
      textarea.addEventListener('input', onInput);
      textarea.addEventListener('keydown', (e) => {
        const shortcut = SHORTCUT.exec(textarea.value.trim());
        if (e.key === 'Tab' && shortcut) { e.preventDefault(); expand(shortcut[1]); }
        if (e.key === 'Escape') hideSuggestions();
      });
      refreshMode();
    },
    isNote: () => mode === 'note',
    /** Agents picked with @ whose mention is still in the text. */
    mentionIds: (text) => [...mentioned].filter(([name]) => text.includes(`@${name}`)).map(([, id]) => id),
    /** A shortcut typed alone is expanded instead of sent. */
    pendingShortcut: (text) => SHORTCUT.exec(text.trim())?.[1] || null,
    expand,
    reset() { mentioned.clear(); hideSuggestions(); },
  };
}

/** Post a note; returns the stored message. */
export function addNote(conversationId, body, mentionIds) {
  return api(`/api/conversations/${conversationId}/notes`, { method: 'POST', body: { body, mention_agent_ids: mentionIds } });
}

/** A live toast when someone mentions me in a note (wherever I am in the app). */
export function notifyMention(frame, navigate) {
  const { payload } = frame;
  const item = h('span', {},
    t('toolkit.mentioned_you', { contact: payload.contact_name || t('toolkit.a_customer') }), ' ',
    button(t('toolkit.open'), () => navigate(`inbox/${payload.conversation_id}`), { class: 'link' }));
  toast(item);
}
